"""Tool: the target's compiler, archiver and binutils, found and version-checked once.

A missing or too old compiler is a ConfigError naming the package to install
and the variable to set, raised before anything is compiled.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import ConfigError

def _version(compiler: str) -> str:
    out = subprocess.run([compiler, "-dumpversion"], capture_output=True, text=True, check=False).stdout.strip()
    return out or "0"


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3]) or (0,)


def _find(name: str, root: str) -> str | None:
    if root:
        for folder in (Path(root) / "bin", Path(root)):
            candidate = folder / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        return None
    return shutil.which(name)


def resolve(target: Any, family: str, toolchain_root: str) -> dict[str, str]:
    """Full paths of cc, cxx, ar, objcopy, size for ``target`` with compiler ``family``."""
    spec = target.toolchain
    prefix = spec.prefix
    names = spec.tool_names(family)
    install = spec.install_hint(family)
    tools: dict[str, str] = {}
    for role, name in names.items():
        found = _find(prefix + name, toolchain_root) or (None if prefix or role in ("cc", "cxx") else _find(name, ""))
        if found is None:
            where = f"under TOOLCHAIN_ROOT={toolchain_root}" if toolchain_root else "on PATH"
            raise ConfigError(f"compiler tool '{prefix + name}' for TARGET={target.name} not found {where}",
                              key="toolchain", file=target.file,
                              fix=f"{install}; or set TOOLCHAIN_ROOT=<folder with bin/{prefix + name}>")
        tools[role] = found
    minimum = spec.min_version
    if minimum:
        have = _version(tools["cxx"])
        if family == spec.family and _as_tuple(have) < _as_tuple(minimum):
            raise ConfigError(f"{tools['cxx']} is version {have}; TARGET={target.name} needs {minimum} or newer",
                              file=target.file, key="toolchain.min_version",
                              fix=f"{install}; or set TOOLCHAIN_ROOT= to a newer toolchain")
    return tools


def generate(env: Any) -> None:
    """Find the target's compiler ($TFLM_TARGET, $TFLM_TOOLCHAIN, $TFLM_TOOLCHAIN_ROOT) and point SCons's
    C/C++ tools at it; a missing or too old compiler is a ConfigError saying what to install."""
    tools = resolve(env["TFLM_TARGET"], env["TFLM_TOOLCHAIN"], env.get("TFLM_TOOLCHAIN_ROOT", ""))
    env.Replace(CC=tools["cc"], CXX=tools["cxx"], LINK=tools["cxx"], AR=tools["ar"],
                OBJCOPY=tools["objcopy"], SIZE=tools["size"], RANLIB="true",
                ARFLAGS="rcsD")  # D: deterministic archives, so caches hit across checkouts


def exists(env: Any) -> bool:
    """Whether the target's compiler and binutils are installed (and new enough)."""
    try:
        resolve(env["TFLM_TARGET"], env["TFLM_TOOLCHAIN"], env.get("TFLM_TOOLCHAIN_ROOT", ""))
    except ConfigError:
        return False
    return True
