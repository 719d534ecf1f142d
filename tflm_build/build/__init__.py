"""The SCons build: variables, the resolved configuration, goals, library and program nodes, model-aware selection.

``scons_main.main`` is what SConstruct calls.
"""
