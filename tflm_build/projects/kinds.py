"""Project kinds: a template folder ``project_templates/<kind>/`` with its ``kind.yaml``, and the
optional module of this package that does what templates cannot (``module:``)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol, Sequence, cast

from ..errors import unknown_choice
from ..model.schema import Field, Schema, validate, with_defaults
from ..model.yamlio import load_yaml
from ..resources import TEMPLATES
from ..scons_tools.project_files import Entry

if TYPE_CHECKING:
    from .generate import ProjectBuilder

COMMON = "_common"
KIND_FILE = "kind.yaml"

KIND_SCHEMA: Schema = {
    "description": Field(str, required=True, doc="one line: what the project builds with"),
    "library_dir": Field(str, default="", doc="folder of TFLM, third-party code and glue inside the project (default: top)"),
    "example_dir": Field(str, default="", doc="folder of the example, its model data and startup code (default: top)"),
    "only_if": Field(dict, values=str, default={}, doc="template -> context key; the file is written only when that key is true"),
    "tags": Field(dict, values=Field(dict, values=str), default={}, doc="TAGS this kind understands -> context values they set"),
    "defaults": Field(dict, values=str, default={}, doc="context values before any tag sets them"),
    "module": Field(str, doc="tflm_build module whose arrange() renames and rewrites files (what templates cannot do)"),
}


@dataclass
class Arrangement:
    """What a kind's module returns: the files it renamed or rewrote, and values for its templates."""

    files: dict[str, Entry]  # the whole plan afterwards: project path -> how the file is made
    renames: dict[str, str] = field(default_factory=dict)  # old project path -> new (source lists follow)
    context: dict[str, Any] = field(default_factory=dict)  # the templates see it as {{ <kind>.<key> }}

    def follow(self, paths: Iterable[str]) -> list[str]:
        """Project paths after the renames, without the files the module dropped."""
        return [p for p in (self.renames.get(p, p) for p in paths) if p in self.files]


class KindModule(Protocol):
    def arrange(self, builder: ProjectBuilder, files: Mapping[str, Entry],
                roles: Mapping[str, Sequence[str]]) -> Arrangement:
        """Rearrange the plan; ``roles`` maps library / app / startup / linker_script to project paths."""
        ...


@dataclass(frozen=True)
class Kind:
    """A project kind: its template folder and layout."""

    name: str
    folder: Path
    data: Mapping[str, Any]

    @property
    def library_dir(self) -> str:
        return self.data["library_dir"]

    @property
    def example_dir(self) -> str:
        return self.data["example_dir"]

    def module(self) -> KindModule | None:
        """The kind's module (kind.yaml ``module``), or None for a kind made of templates alone."""
        name = self.data["module"]
        return cast(KindModule, importlib.import_module(f"{__package__}.{name}")) if name else None

    def templates(self) -> dict[str, Path]:
        """Output path -> template, the kind's own overriding _common's."""
        found: dict[str, Path] = {}
        for folder in (TEMPLATES / COMMON, self.folder):
            for path in sorted(folder.rglob("*.j2")):
                found[path.relative_to(folder).as_posix()[: -len(".j2")]] = path
        return found


def kind_names() -> list[str]:
    return sorted(p.parent.name for p in TEMPLATES.glob(f"*/{KIND_FILE}") if p.parent.name != COMMON)


def load_kind(name: str) -> Kind:
    path = TEMPLATES / name / KIND_FILE
    if not path.is_file():
        raise unknown_choice("project kind", name, kind_names())
    data = load_yaml(path)
    validate(data, KIND_SCHEMA)
    return Kind(name, path.parent, with_defaults(data, KIND_SCHEMA))
