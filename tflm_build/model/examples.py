"""Examples and applications as data: ``examples/<name>.yaml`` or ``APP=path/to/app.yaml``.

An example names its programs (a program whose name ends in ``_test`` is a
test, as in the Makefile), their sources and the generator inputs that become
``<name>_model_data.cc/.h``.  TFLM's own examples point into the TFLM tree
(``root: tflm``); a user's app keeps its files next to its YAML (``root: here``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError, unknown_choice
from .schema import Field, Schema, str_list, validate
from .yamlio import LocDict, load_yaml

_OVERRIDE: Schema = {
    "exclude": Field(str, doc="why this target cannot build the example"),
    "sources": str_list("extra sources on this target"),
    "defines": str_list(),
    "generator_inputs": str_list(),
}

_PROGRAM: Schema = {
    "sources": str_list("C/C++ sources", required=True),
    "generator_inputs": str_list("files turned into C arrays; default: the example's"),
    "expected_output": str_list("lines a run must print; default: the example's"),
    "targets": Field(dict, values=_OVERRIDE, doc="per-target overrides for this program"),
}

SCHEMA: Schema = {
    "description": Field(str, required=True),
    "root": Field(str, choices=("tflm", "here"), doc="tflm: paths are in the TFLM tree; here: next to this file"),
    "dir": Field(str, doc="folder the paths below are relative to"),
    "headers": str_list("headers, for listing and project export"),
    "generator_inputs": str_list(".tflite/.bmp/.wav/.csv files turned into C arrays"),
    "defines": str_list(),
    "include_dirs": str_list("extra include folders, relative like the sources"),
    "expected_output": str_list("lines every run must print (the pass string is added for tests)"),
    "programs": Field(dict, required=True, values=_PROGRAM),
    "targets": Field(dict, values=_OVERRIDE, doc="per-target overrides for every program"),
}


@dataclass
class Program:
    """One binary of an example: the goals <name>, <name>_bin, run_<name> or test_<name>."""

    name: str
    example: "Example"
    sources: list[str]
    generator_inputs: list[str]
    expected_output: list[str]
    defines: list[str] = field(default_factory=list)

    @property
    def is_test(self) -> bool:
        return "_test" in self.name


@dataclass
class Example:
    """A loaded example; paths are relative to ``base`` (TFLM root or the app's folder)."""

    name: str
    file: Path
    data: LocDict
    base_kind: str  # "tflm" or "here"

    def base(self, tflm_root: Path) -> Path:
        return tflm_root if self.base_kind == "tflm" else self.file.parent

    def rel(self, path: str) -> str:
        """A path of the YAML as a path relative to the base (``dir`` joined, normalised)."""
        joined = os.path.normpath(os.path.join(self.data.get("dir") or "", path)).replace(os.sep, "/")
        if joined.startswith("../") or os.path.isabs(joined):
            raise ConfigError(f"path '{path}' leaves the example's root", file=self.file,
                              fix="keep example files inside the TFLM tree (root: tflm) or next to the YAML")
        return joined

    @property
    def headers(self) -> list[str]:
        return [self.rel(h) for h in self.data.get("headers") or []]

    @property
    def include_dirs(self) -> list[str]:
        return [self.rel(h) for h in self.data.get("include_dirs") or []]

    def excluded_on(self, lineage: tuple[str, ...], target_excludes: Mapping[str, str] | None = None) -> str | None:
        """Why the example cannot be built on a target (its own file first, then the target's)."""
        for target in lineage:  # the most specific target that says anything wins
            over = (self.data.get("targets") or {}).get(target)
            if over is not None and "exclude" in over:
                return over["exclude"]
        return (target_excludes or {}).get(self.name)

    def programs(self, lineage: tuple[str, ...]) -> list[Program]:
        """The programs for a target (first name in ``lineage`` is the target itself)."""
        result = []
        default_inputs = self.data.get("generator_inputs") or []
        default_expect = self.data.get("expected_output") or []
        for name, spec in self.data["programs"].items():
            sources = list(spec["sources"])
            inputs = list(spec.get("generator_inputs") or default_inputs)
            defines = list(self.data.get("defines") or [])
            skip = None
            for level in (self.data.get("targets") or {}, spec.get("targets") or {}):
                for target in reversed(lineage):
                    over = level.get(target) or {}
                    skip = over.get("exclude") or skip
                    sources += over.get("sources") or []
                    inputs += over.get("generator_inputs") or []
                    defines += over.get("defines") or []
            if skip:
                continue
            result.append(Program(name, self, [self.rel(s) for s in sources], [self.rel(i) for i in inputs],
                                  list(spec.get("expected_output") or default_expect), defines))
        return result


def load_example(path: Path, name: str | None = None) -> Example:
    data = load_yaml(path)
    validate(data, SCHEMA)
    return Example(name or path.stem, path, data, data.get("root") or "here")


class ExampleRegistry:
    """The repository's examples plus an optional APP=."""

    def __init__(self, folder: Path, app: Path | None = None) -> None:
        self.folder = folder
        self.app = app
        self._cache: dict[str, Example] = {}

    def names(self) -> list[str]:
        names = sorted(p.stem for p in self.folder.glob("*.yaml"))
        if self.app is not None:
            names.append(self.app.stem)
        return names

    def get(self, name: str) -> Example:
        if name not in self._cache:
            if self.app is not None and name == self.app.stem:
                self._cache[name] = load_example(self.app)
            elif (self.folder / f"{name}.yaml").exists():
                self._cache[name] = load_example(self.folder / f"{name}.yaml")
            else:
                raise unknown_choice("example", name, self.names())
        return self._cache[name]

    def all(self) -> list[Example]:
        return [self.get(n) for n in self.names()]


def check_app(value: str) -> Path:
    """APP= must name an existing YAML file."""
    path = Path(value).expanduser().resolve()
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        raise ConfigError(f"APP={value} is not a YAML file", key="APP",
                          fix="point APP= at your application's app.yaml (see examples/*.yaml for the format)")
    return path


def programs_by_name(examples: list[Example], lineage: tuple[str, ...],
                     target_excludes: Mapping[str, str] | None = None) -> Mapping[str, Program]:
    """Every program of every example available on a target, by name (names must be unique)."""
    result: dict[str, Program] = {}
    for example in examples:
        if example.excluded_on(lineage, target_excludes):
            continue
        for program in example.programs(lineage):
            if program.name in result:
                raise ConfigError(f"program '{program.name}' is defined twice", file=example.file,
                                  fix=f"rename it; it is also in {result[program.name].example.file}")
            result[program.name] = program
    return result


__all__ = ["Example", "Program", "ExampleRegistry", "load_example", "check_app", "programs_by_name", "Any"]
