"""Running the SCons build from the command line tools: on the workspace the command stands in,
else on the checkout, else in the current folder (never in the installed package)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Sequence

from ..resources import ROOT, SCONSTRUCT, build_root


def scons_argv(args: Sequence[str], cwd: Path | None = None) -> list[str]:
    """The command line running the SCons build with ``args`` (outputs below the build root).

    SCons runs on this interpreter, so the build imports this very tflm_build (a ``scons``
    script on PATH may belong to another Python, with another tflm-build or none).
    """
    root = build_root(cwd or Path.cwd())
    script = [] if root == ROOT else ["-f", str(SCONSTRUCT)]
    return [sys.executable, "-m", "SCons", "-C", str(root), *script, "-Q", *args]


def scons(args: Sequence[str]) -> int:
    """Run the SCons build; returns its exit status (1 failure, 2 usage)."""
    return subprocess.call(scons_argv(args))
