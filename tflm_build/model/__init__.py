"""The data model: YAML loading with line numbers, the schema, targets, examples and TFLM's source selection.

Nothing here knows SCons or the network; every other layer reads the model.
"""
