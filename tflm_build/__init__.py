"""tflm-build: TensorFlow Lite for Microcontrollers built with SCons, from YAML targets, examples and pins.

The layers, each a subpackage: ``model`` (the YAML data), ``fetch`` (dependencies), ``build``
(the SCons build), ``projects``, ``ci`` and ``cli``; see DEVELOPERS.md.
"""
