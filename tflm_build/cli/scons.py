"""Running the SCons build of the project's SConstruct from the command line tools."""
from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Sequence

from ..resources import REPO


def scons_argv(args: Sequence[str]) -> list[str]:
    """The command line running the SCons build of this repository with ``args``."""
    exe = shutil.which("scons")
    return [*([exe] if exe else [sys.executable, "-m", "SCons"]), "-C", str(REPO), "-Q", *args]


def scons(args: Sequence[str]) -> int:
    """Run the SCons build; returns its exit status (1 failure, 2 usage)."""
    return subprocess.call(scons_argv(args))
