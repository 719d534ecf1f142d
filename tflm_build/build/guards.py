"""Where a build may write its outputs: below GEN_DIR, and GEN_DIR a folder of its own.

TARGET is a plain name (checked where targets are loaded, model/targets.py), and so is
every part of the configuration's folder name, so that folder never leaves GEN_DIR.
GEN_DIR itself must be a folder the build may fill and ``scons -c`` may empty:
never the filesystem root, the home folder, the repository or one of their
parents, nor a dependency tree (or a folder holding one).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ..errors import ConfigError
from ..model.targets import is_plain_name


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_gen_dir(gen_dir: str, repo: Path, trees: Mapping[str, Path], home: str | None = None) -> Path:
    """GEN_DIR, resolved, if the build may write below it and clean it; a ConfigError otherwise."""
    root = Path(gen_dir).expanduser()
    root = (root if root.is_absolute() else repo / root).resolve()
    home_dir = Path(home if home is not None else os.path.expanduser("~")).resolve()
    # The most specific reason first: a checkout below /tmp makes /tmp a parent of it and of a home there.
    dangers = [(Path(root.anchor), "the filesystem root"), (repo.resolve(), "the repository"),
               (home_dir, "your home folder")]
    why = next((what if root == place else f"a parent of {what} ({place})"
                for place, what in dangers if _within(place, root)), None)
    if why is None:
        why = next((f"inside the dependency tree '{name}' ({tree})" if _within(root, tree.resolve())
                    else f"a parent of the dependency tree '{name}' ({tree})"
                    for name, tree in trees.items() if _within(root, tree.resolve()) or _within(tree.resolve(), root)),
                   None)
    if why is not None:
        raise ConfigError(f"GEN_DIR={gen_dir} is {why}: the build writes and 'scons -c' removes files below GEN_DIR",
                          key="GEN_DIR", fix="choose a folder used only for build outputs, e.g. GEN_DIR=gen "
                                             "(the default, inside the repository) or an empty folder")
    return root


def check_gen_folder(name: str) -> str:
    """The configuration's folder is one plain name below GEN_DIR (TARGET_ARCH and kernel dirs make it up)."""
    if not is_plain_name(name):
        raise ConfigError(f"the output folder name '{name}' would leave GEN_DIR", key="TARGET_ARCH",
                          fix="TARGET, TARGET_ARCH, OPTIMIZED_KERNEL_DIR and CO_PROCESSOR are names, not paths: "
                              "remove any '/' or leading '.'")
    return name


# Variables a ci cell sets itself: a matrix's or the command line's `variables` must not change them.
CELL_VARIABLES = ("GEN_DIR", "TARGET", "TARGET_ARCH", "BUILD_TYPE", "OPTIMIZED_KERNEL_DIR")


def check_cell_variables(variables: Mapping[str, str], file: Path | None = None) -> None:
    """Refuse ci variables that would change what each cell sets (its GEN_DIR above all)."""
    name = next((n for n in variables if n in CELL_VARIABLES), None)
    if name is None:
        return
    line_of = getattr(variables, "line_of", None)
    raise ConfigError(f"'variables' cannot set {name}: each cell sets it (GEN_DIR: the cell's own folder under --out)",
                      file=file, line=line_of(name) if line_of and file else None, key=f"variables.{name}",
                      fix=f"remove {name} from the variables; cells come from targets:, build_types: and "
                          "kernel_dirs:, and --out says where they write")
