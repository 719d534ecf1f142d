"""Tool: ``env.TflmCcArrays(input)`` turns a model or test-data file into .cc/.h arrays."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from SCons.Action import Action

from ..build import cc_arrays


def _build(target: list[Any], source: list[Any], env: Any) -> int:
    cc_path, h_path = Path(str(target[0])), Path(str(target[1]))
    cc_arrays.generate(Path(str(source[0])), cc_path, h_path, env["TFLM_CCARRAY_HEADER"])
    return 0


# One Action for every call: SCons fingerprints a Python action's bytecode when it is
# created, which is the dominant start-up cost when done per node.
_ACTION = Action(_build, "$TFLM_GEN_COMSTR")


def generate(env: Any, **_: Any) -> None:
    def tflm_cc_arrays(env: Any, genfiles: str, relpath: str, source: Any) -> list[Any]:
        """Generate <genfiles>/<relpath stem>_model_data.cc/.h; returns [cc, h] nodes."""
        stem = cc_arrays.output_stem(relpath)
        return env.Command([f"{genfiles}/{stem}.cc", f"{genfiles}/{stem}.h"], source, _ACTION,
                           TFLM_CCARRAY_HEADER=f"{stem}.h")

    env.AddMethod(tflm_cc_arrays, "TflmCcArrays")


def exists(env: Any) -> bool:
    return True
