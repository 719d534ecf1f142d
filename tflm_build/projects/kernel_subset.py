"""``PROJECT_KERNELS=model``: a generated project with only the kernels its example's models need.

The selection is the build's model-aware one (build/model_aware.py: the kernels the example's op
resolver registers, and the kernel files they use); when it cannot be trusted the project
keeps every kernel and says why.  The default, ``all``, keeps every kernel, so an operator
added to the application later needs nothing but its ``AddXxx()`` call.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any

def narrow(builder: Any, library: Any) -> Any:
    """The library selection of a project: ``library`` itself, or a copy with fewer kernels."""
    build = builder.build
    builder.values["model_kernels"] = ""  # the templates' note: what the selection holds, when made
    if build.config["PROJECT_KERNELS"] != "model":
        return library
    from ..build.model_aware import select

    program = builder.program
    choice = select(build.tflm, library.kernels, library.core, [program.base / s for s in program.sources],
                    [program.base / i for i in program.generator_inputs], build.facts)
    name = builder.example.name
    if choice.kernels is None:
        print(f"tflm-build: {name} project: every kernel ({choice.reason})", file=sys.stderr)
        return library
    print(f"tflm-build: {name} project: {choice.reason}", file=sys.stderr)
    builder.values["model_kernels"] = choice.reason
    return dataclasses.replace(library, kernels=list(choice.kernels))
