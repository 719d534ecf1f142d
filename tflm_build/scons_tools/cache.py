"""Tool: share and scale out compiles with existing tools: SCons's CacheDir and a compiler launcher.

``CACHE_DIR=<folder>`` (or ``TFLM_BUILD_CACHE_DIR``) turns on SCons's CacheDir.
Its key is the object's path below the repository, the action's signature
(where SCons writes only the *names* of $TARGET and $SOURCE) and the contents
of every input, so two checkouts in different folders hit each other's
entries as long as outputs stay below each repository (the default
``GEN_DIR=gen``) and include paths stay relative (the build keeps those inside
the repository relative).

``COMPILER_LAUNCHER=ccache|sccache|distcc|icecc`` (or a path to one) prefixes
every compile, outside the build signature, so objects and cache entries do not
depend on it.  With distcc, ``-j`` defaults to the slots its hosts offer
(``distcc -j``) when that exceeds the local cores.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError, user_path

LAUNCHERS = {
    "ccache": "Debian/Ubuntu: apt-get install ccache",
    "sccache": "cargo install sccache, or a release from https://github.com/mozilla/sccache/releases",
    "distcc": "Debian/Ubuntu: apt-get install distcc (and distccd on the helpers; set DISTCC_HOSTS)",
    "icecc": "Debian/Ubuntu: apt-get install icecc (and an icecc scheduler on the network)",
}
# Environment variables each launcher reads; passed through to the compile commands.
_ENV_PREFIXES = ("CCACHE_", "SCCACHE_", "DISTCC_", "ICECC_", "ICECREAM_")
ENV_VAR = "TFLM_BUILD_CACHE_DIR"
_COMMANDS = ("CCCOM", "CXXCOM", "ASPPCOM")


def cache_dir(value: str, environ: Any = os.environ) -> Path | None:
    """The CacheDir folder from CACHE_DIR=, else TFLM_BUILD_CACHE_DIR; created and checked writable."""
    text = value or environ.get(ENV_VAR, "")
    if not text:
        return None
    key = "CACHE_DIR" if value else ENV_VAR
    folder = user_path(text, key).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{key}={text} is not a writable folder ({exc.strerror})", key=key,
                          fix=f"choose a folder you can write to, or unset {key} to build without the cache") from None
    return folder


def launcher(value: str) -> str | None:
    """Full path of the COMPILER_LAUNCHER, which must be installed."""
    if not value:
        return None
    found = shutil.which(value)
    if found is None:
        name = Path(value).name
        raise ConfigError(f"COMPILER_LAUNCHER={value} is not installed (not found on PATH)", key="COMPILER_LAUNCHER",
                          choices=tuple(LAUNCHERS),
                          fix=LAUNCHERS.get(name, "install it or give its full path") + "; or unset COMPILER_LAUNCHER")
    return found


def distcc_slots(distcc: str) -> int:
    """Concurrent jobs distcc's hosts accept (``distcc -j``); 0 if it cannot tell."""
    try:
        out = subprocess.run([distcc, "-j"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return int(out.strip()) if out.strip().isdigit() else 0


def _jobs_given() -> bool:
    """Whether the user chose -j (command line or SCONSFLAGS): then it is left alone."""
    words = sys.argv[1:] + os.environ.get("SCONSFLAGS", "").split()
    return any(w == "-j" or w.startswith(("-j", "--jobs")) for w in words)


def generate(env: Any) -> None:
    """CacheDir from $TFLM_CACHE_DIR (CACHE_DIR=) and the launcher $TFLM_COMPILER_LAUNCHER before each compile."""
    from SCons.Script import GetOption, SetOption

    folder = cache_dir(env.get("TFLM_CACHE_DIR", ""))
    if folder is not None:
        env.CacheDir(str(folder))
    tool = launcher(env.get("TFLM_COMPILER_LAUNCHER", ""))
    env["TFLM_LAUNCHER"] = tool or ""
    if tool is None:
        return
    for com in _COMMANDS:
        env[com] = f"$( $TFLM_LAUNCHER $) {env[com]}"
    env["ENV"].update({k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)})
    if Path(tool).name == "distcc" and not _jobs_given():
        slots = distcc_slots(tool)
        if slots > (GetOption("num_jobs") or 1):
            SetOption("num_jobs", slots)


def exists(env: Any) -> bool:
    """The cache needs nothing; a launcher, when one is asked for, must be installed."""
    wanted = env.get("TFLM_COMPILER_LAUNCHER", "")
    return not wanted or shutil.which(wanted) is not None
