"""The one place that locates the project's data: targets/, examples/, sources/, third_party/,
project_templates/ and the SConstruct.

Every module asks here instead of computing paths from its own ``__file__``, so moving the
data (into the wheel, or next to a workspace) changes one function.
"""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = REPO / "targets"
EXAMPLES = REPO / "examples"
SOURCES = REPO / "sources" / "tflm.yaml"
THIRD_PARTY = REPO / "third_party"
TEMPLATES = REPO / "project_templates"


def dependency_variables() -> set[str]:
    """The ``<NAME>_DIR`` variables of every pinned dependency, and TFLM_ROOT."""
    return {f"{p.stem.upper()}_DIR" for p in THIRD_PARTY.glob("*.yaml")} | {"TFLM_ROOT"}
