"""The ``tflm-build`` command and its subcommands (doctor, deps, size charts).
"""
