"""The one place that locates the project's data and the folders a build works in.

The data (targets/, examples/, sources/, third_party/, project_templates/, SConstruct)
sits at the root of a checkout; an installed wheel carries the same folders as package
data below ``tflm_build/data/``.  A workspace (a folder with ``tflm-build.yaml``, found by
walking up from where the command runs) holds the user's apps, targets and outputs.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_WHEEL_DATA = PACKAGE / "data"
# A wheel's copy of the data, else the checkout this package sits in.
ROOT = _WHEEL_DATA if (_WHEEL_DATA / "targets").is_dir() else PACKAGE.parent
REPO = ROOT  # the data root; a checkout's root, where the build ran before workspaces
TARGETS = ROOT / "targets"
EXAMPLES = ROOT / "examples"
SOURCES = ROOT / "sources" / "tflm.yaml"
THIRD_PARTY = ROOT / "third_party"
TEMPLATES = ROOT / "project_templates"
SCONSTRUCT = ROOT / "SConstruct"
WORKSPACE_FILE = "tflm-build.yaml"
# Folders of the data that the wheel carries (setup.py copies them in).
DATA_FOLDERS = ("targets", "examples", "sources", "third_party", "project_templates")


def is_checkout() -> bool:
    """Whether the data is a checkout's (writable, outputs may go below it) rather than a wheel's."""
    return ROOT == PACKAGE.parent


def find_workspace(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding tflm-build.yaml (as west and pio look)."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / WORKSPACE_FILE).is_file():
            return folder
    return None


def build_root(cwd: Path) -> Path:
    """Where a build runs and writes (gen/, third_party/downloads/): the workspace, else a checkout's
    root, else the current folder (never the installed package)."""
    workspace = find_workspace(cwd)
    if workspace is not None:
        return workspace
    return ROOT if is_checkout() else cwd.resolve()


def dependency_variables() -> set[str]:
    """The ``<NAME>_DIR`` variables of every pinned dependency, and TFLM_ROOT."""
    return {f"{p.stem.upper()}_DIR" for p in THIRD_PARTY.glob("*.yaml")} | {"TFLM_ROOT"}
