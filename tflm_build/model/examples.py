"""Examples and applications as data: ``examples/<name>.yaml`` or ``APP=path/to/app.yaml``.

An example names its programs (a program whose name ends in ``_test`` is a
test, as in the Makefile), their sources and the generator inputs that become
``<name>_model_data.cc/.h``.  TFLM's own examples point into the TFLM tree
(``root: tflm``); a user's app keeps its files next to its YAML (``root: here``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError, unknown_choice, user_path
from .schema import Field, Schema, str_list, validate, with_defaults
from .yamlio import load_yaml

_OVERRIDE: Schema = {
    "exclude": Field(str, doc="why this target cannot build the example"),
    "sources": str_list("extra sources on this target"),
    "defines": str_list(),
    "generator_inputs": str_list(),
}

_PROGRAM: Schema = {
    "sources": str_list("C/C++ sources", required=True),
    "generator_inputs": str_list("files turned into C arrays; default: the example's", default=None),
    "expected_output": str_list("lines a run must print; default: the example's", default=None),
    "targets": Field(dict, values=_OVERRIDE, default={}, doc="per-target overrides for this program"),
}

SCHEMA: Schema = {
    "description": Field(str, required=True),
    "root": Field(str, choices=("tflm", "here"), default="here",
                  doc="tflm: paths are in the TFLM tree; here: next to this file"),
    "dir": Field(str, default="", doc="folder the paths below are relative to"),
    "headers": str_list("headers, for listing and project export"),
    "generator_inputs": str_list(".tflite/.bmp/.wav/.csv files turned into C arrays"),
    "defines": str_list(),
    "include_dirs": str_list("extra include folders, relative like the sources"),
    "expected_output": str_list("lines every run must print (the pass string is added for tests)"),
    "programs": Field(dict, required=True, values=_PROGRAM),
    "targets": Field(dict, values=_OVERRIDE, default={}, doc="per-target overrides for every program"),
}


@dataclass(frozen=True)
class Override:
    """What one target changes for an example or one of its programs."""

    exclude: str | None
    sources: tuple[str, ...]
    defines: tuple[str, ...]
    generator_inputs: tuple[str, ...]

    @staticmethod
    def parse(data: Mapping[str, Any]) -> "Override":
        return Override(**with_defaults(data, _OVERRIDE))


@dataclass(frozen=True)
class ProgramSpec:
    """A program as its example's YAML declares it (before a target's overrides)."""

    sources: tuple[str, ...]
    generator_inputs: tuple[str, ...] | None  # None: the example's
    expected_output: tuple[str, ...] | None  # None: the example's
    targets: Mapping[str, Override]


@dataclass(frozen=True)
class Program:
    """One binary of an example for one target: the goals <name>, <name>_bin, run_<name> or test_<name>."""

    name: str
    example: "Example"
    sources: tuple[str, ...]  # relative to the example's base
    generator_inputs: tuple[str, ...]
    expected_output: tuple[str, ...]
    defines: tuple[str, ...]

    @property
    def is_test(self) -> bool:
        return "_test" in self.name


@dataclass(frozen=True)
class Example:
    """A loaded example, parsed once; paths are relative to ``base`` (TFLM root or the app's folder)."""

    name: str
    file: Path
    description: str
    base_kind: str  # "tflm" or "here"
    dir: str
    headers: tuple[str, ...]  # relative to the base
    include_dirs: tuple[str, ...]  # relative to the base
    generator_inputs: tuple[str, ...]
    defines: tuple[str, ...]
    expected_output: tuple[str, ...]
    program_specs: Mapping[str, ProgramSpec]
    targets: Mapping[str, Override]

    def base(self, tflm_root: Path) -> Path:
        return tflm_root if self.base_kind == "tflm" else self.file.parent

    def rel(self, path: str) -> str:
        """A path of the YAML as a path relative to the base (``dir`` joined, normalised)."""
        return _rel(self.file, self.dir, path)

    def excluded_on(self, lineage: tuple[str, ...], target_excludes: Mapping[str, str]) -> str | None:
        """Why the example cannot be built on a target (its own file first, then the target's)."""
        for target in lineage:  # the most specific target that says anything wins
            over = self.targets.get(target)
            if over is not None and over.exclude is not None:
                return over.exclude
        return target_excludes.get(self.name)

    def programs(self, lineage: tuple[str, ...]) -> list[Program]:
        """The programs for a target (first name in ``lineage`` is the target itself)."""
        result = []
        for name, spec in self.program_specs.items():
            sources = list(spec.sources)
            inputs = list(spec.generator_inputs if spec.generator_inputs is not None else self.generator_inputs)
            defines = list(self.defines)
            skip = None
            for level in (self.targets, spec.targets):
                for target in reversed(lineage):
                    over = level.get(target)
                    if over is None:
                        continue
                    skip = over.exclude or skip
                    sources += over.sources
                    inputs += over.generator_inputs
                    defines += over.defines
            if skip:
                continue
            expected = spec.expected_output if spec.expected_output is not None else self.expected_output
            result.append(Program(name, self, tuple(self.rel(s) for s in sources), tuple(self.rel(i) for i in inputs),
                                  tuple(expected), tuple(defines)))
        return result


def _rel(file: Path, folder: str, path: str) -> str:
    joined = os.path.normpath(os.path.join(folder, path)).replace(os.sep, "/")
    if joined.startswith("../") or os.path.isabs(joined):
        raise ConfigError(f"path '{path}' leaves the example's root", file=file,
                          fix="keep example files inside the TFLM tree (root: tflm) or next to the YAML")
    return joined


def load_example(path: Path, name: str | None = None) -> Example:
    """Load, validate and parse one example (or app) YAML."""
    raw = load_yaml(path)
    validate(raw, SCHEMA)
    data = with_defaults(raw, SCHEMA)
    specs = {}
    for program, spec in data["programs"].items():
        spec = with_defaults(spec, _PROGRAM)
        specs[program] = ProgramSpec(spec["sources"], spec["generator_inputs"], spec["expected_output"],
                                     {t: Override.parse(o) for t, o in spec["targets"].items()})
    return Example(name=name or path.stem, file=path, description=data["description"], base_kind=data["root"],
                   dir=data["dir"], headers=tuple(_rel(path, data["dir"], h) for h in data["headers"]),
                   include_dirs=tuple(_rel(path, data["dir"], d) for d in data["include_dirs"]),
                   generator_inputs=data["generator_inputs"], defines=data["defines"],
                   expected_output=data["expected_output"], program_specs=specs,
                   targets={t: Override.parse(o) for t, o in data["targets"].items()})


class ExampleRegistry:
    """The shipped examples, a workspace's example folders and apps, and an optional APP=.

    An app or a workspace example named like a shipped example replaces it (a workspace's
    copy of hello_world is the hello_world it builds).
    """

    def __init__(self, folder: Path, app: Path | None = None, extra: Sequence[Path] = (),
                 apps: Sequence[Path] = ()) -> None:
        self.folder = folder
        self.app = app
        self._files: dict[str, Path] = {p.stem: p for f in (folder, *extra) for p in sorted(f.glob("*.yaml"))}
        self._files.update({a.stem: a for a in (*apps, *([app] if app is not None else []))})
        self._cache: dict[str, Example] = {}

    def names(self) -> list[str]:
        return sorted(self._files)

    def get(self, name: str) -> Example:
        if name not in self._cache:
            if name not in self._files:
                raise unknown_choice("example", name, self.names())
            self._cache[name] = load_example(self._files[name])
        return self._cache[name]

    def all(self) -> list[Example]:
        return [self.get(n) for n in self.names()]


def check_app(value: str) -> Path:
    """APP= must name an existing YAML file."""
    path = user_path(value, "APP").resolve()
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        raise ConfigError(f"APP={value} is not a YAML file", key="APP",
                          fix="point APP= at your application's app.yaml (see examples/*.yaml for the format)")
    return path


def programs_by_name(examples: list[Example], lineage: tuple[str, ...],
                     target_excludes: Mapping[str, str]) -> Mapping[str, Program]:
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
