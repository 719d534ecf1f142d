"""Tool: the same configuration gives the same bytes, whatever folder the checkout and its trees are in.

Absolute paths reach objects through ``__FILE__`` (TFLM's error macros print it)
and debug information (the compile folder, source names).  Each folder a
compile can see is mapped to a fixed name with ``-ffile-prefix-map`` (gcc >= 8,
clang >= 10; it implies the debug and macro maps): the repository to ``.``,
GEN_DIR to ``gen`` and each dependency tree to ``/tflm-deps/<name>``.  The maps
are left out of the build signature (``$( $)``): they change no byte of the
output, so a checkout elsewhere keeps its objects and hits the same CacheDir
entries.  Archives are deterministic (``ar D``, see toolchain.py), and the
linker's build-id is a hash of the output, so programs follow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def prefix_maps(repo: Path, gen_root: Path, roots: Mapping[str, Path]) -> list[str]:
    """``-ffile-prefix-map`` flags, least specific first: the compiler applies the last match."""
    top = repo.resolve()
    folders = {str(top): ".", str(gen_root.resolve()): "gen"}
    for name, root in roots.items():
        real = Path(root).resolve()
        for form in (real, Path(root).absolute()):  # as named too, if it is a link
            folders.setdefault(str(form), f"/tflm-deps/{name}")
        if real.is_relative_to(top):  # compiled by its relative path (a patched copy below the repository)
            folders.setdefault(str(real.relative_to(top)), f"/tflm-deps/{name}")
    return [f"-ffile-prefix-map={old}={new}" for old, new in sorted(folders.items(), key=lambda kv: len(kv[0]))]


def generate(env: Any) -> None:
    """Into the compile commands, not CCFLAGS: generated projects copy CCFLAGS and live elsewhere.

    Reads $TFLM_GEN_ROOT (GEN_DIR) and $TFLM_ROOTS (dependency name -> tree); after the output tool,
    whose compile commands it extends.
    """
    from ..resources import REPO
    from .output import COMPILE_COMS

    env["TFLM_PREFIX_MAPS"] = prefix_maps(REPO, Path(env["TFLM_GEN_ROOT"]), env["TFLM_ROOTS"])
    for com, compiler in COMPILE_COMS:
        env[com] = env[com].replace(f"{compiler} ", f"{compiler} $( $TFLM_PREFIX_MAPS $) ", 1)


def exists(env: Any) -> bool:
    return True
