"""Source selection: which files form the library, its headers and TFLM's unit tests.

The rules are data (``sources/tflm.yaml``); this module only interprets them
for one configuration (target, OPTIMIZED_KERNEL_DIR, CO_PROCESSOR, BUILD_TYPE),
the way the Makefile's sources.inc, specialize_files.py and tests.inc do.
"""
from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import unknown_choice
from .schema import Field, Schema, str_list, validate
from .yamlio import load_yaml

_GROUP: Schema = {
    "optimization": Field(str, choices=("core", "kernel", "third_party_kernel")),
    "specialize": Field(bool),
    "files": str_list(),
    "trees": Field(list, items={"dir": Field(str, required=True), "ext": str_list(required=True), "prune": str_list()}),
    "exclude": str_list(),
    "exclude_unless": Field(dict, values=Field(list, items=str)),
    "name": Field(str),
    "companions": str_list(),
}

SCHEMA: Schema = {
    "library": Field(dict, required=True, values=_GROUP),
    "headers": Field(dict, required=True, schema=_GROUP),
    "tests": Field(dict, required=True, schema={
        "pass_string": Field(str, required=True),
        "groups": Field(list, items=_GROUP, required=True),
        "rename": Field(dict, values=str),
        "skip": Field(dict, values=str),
        "extra": Field(dict, values={"sources": str_list(), "generator_inputs": str_list()}),
    }),
}


def load_rules(path: Path) -> dict[str, Any]:
    """Read and validate the source rules file."""
    data = load_yaml(path)
    validate(data, SCHEMA)
    return data


def expand(root: Path, patterns: Iterable[str]) -> list[str]:
    """Expand globs relative to ``root``; literal paths are kept only if they exist."""
    out: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            out.extend(sorted(glob.glob(pattern, root_dir=root, recursive=True)))
        elif (root / pattern).exists():
            out.append(pattern)
    return [p.replace(os.sep, "/") for p in out]


def _find(root: Path, tree: Mapping[str, Any]) -> list[str]:
    """The Makefile's `find dir -path prune -prune -o -name '*.ext'`, in Python."""
    prune = {str(root / p) for p in tree.get("prune") or []}
    exts = tuple(tree["ext"])
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root / tree["dir"]):
        dirnames[:] = sorted(d for d in dirnames if os.path.join(dirpath, d) not in prune)
        rel = os.path.relpath(dirpath, root)
        found.extend(f"{rel}/{name}".replace(os.sep, "/") for name in sorted(filenames) if name.endswith(exts))
    return found


def collect(root: Path, group: Mapping[str, Any], build_type: str) -> list[str]:
    """Apply one group's files / trees / exclude / exclude_unless rules."""
    files = expand(root, group.get("files") or [])
    for tree in group.get("trees") or []:
        files.extend(_find(root, tree))
    excludes = list(group.get("exclude") or [])
    for kept_for, paths in (group.get("exclude_unless") or {}).items():
        if build_type != kept_for:
            excludes.extend(paths)
    seen: set[str] = set()
    result = []
    for path in files:
        if path in seen or any(fnmatch.fnmatchcase(path, pat) or fnmatch.fnmatchcase(Path(path).name, pat)
                               for pat in excludes):
            continue
        seen.add(path)
        result.append(path)
    return result


def specialize(files: Sequence[str], root: Path, directory: str) -> list[str]:
    """Replace ``d/f`` by ``directory/f`` where that exists (specialize_files.py's rule)."""
    folder = root / directory
    if not folder.is_dir():
        return list(files)
    present = set(os.listdir(folder))
    return [f"{directory}/{Path(f).name}" if Path(f).name in present else f for f in files]


@dataclass
class ThirdParty:
    """What the needed dependencies contribute, as absolute paths."""

    include_dirs: list[Path] = field(default_factory=list)
    headers: list[Path] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    kernel_sources: list[Path] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)
    origin: dict[Path, str] = field(default_factory=dict)  # file -> dependency name
    roots: list[Path] = field(default_factory=list)  # tree root of each dependency


@dataclass
class Library:
    """The library's sources for one configuration."""

    core: list[str]  # TFLM-relative, or absolute for our glue
    kernels: list[str]
    headers: list[str]
    third_party: ThirdParty


def select_library(rules: Mapping[str, Any], root: Path, *, build_type: str, target_dir: str,
                   glue: Sequence[Path], kernel_dir: str | None, co_processor: str | None,
                   extra_headers: Sequence[str], third_party: ThirdParty) -> Library:
    """The Makefile's MICROLITE_CC_SRCS / MICROLITE_CC_KERNEL_SRCS / MICROLITE_CC_HDRS."""
    lib_rules = rules["library"]
    core = specialize(collect(root, lib_rules["core"], build_type), root, target_dir)
    by_name = {p.name: p for p in glue}
    core = [str(by_name[Path(f).name]) if Path(f).name in by_name else f for f in core]
    kernels = collect(root, lib_rules["kernels"], build_type)
    headers = collect(root, rules["headers"], build_type) + expand(root, extra_headers)
    for special in (kernel_dir, co_processor):
        if not special:
            continue
        tflm_dir = f"tensorflow/lite/micro/kernels/{special}"
        signal_dir = f"signal/micro/kernels/{special}"
        kernels = [k for k in specialize([k for k in kernels], root, tflm_dir)]
        kernels = [_specialize_one(k, root, signal_dir) if k.startswith("signal/micro/kernels/") else k
                   for k in kernels]
        if special == kernel_dir:
            headers += expand(root, [f"{tflm_dir}/*.h"])
    return Library(core=core, kernels=kernels, headers=headers, third_party=third_party)


def _specialize_one(path: str, root: Path, directory: str) -> str:
    return specialize([path], root, directory)[0]


def check_kernel_dir(root: Path, name: str) -> None:
    """OPTIMIZED_KERNEL_DIR must name a folder of kernels (the Makefile's check script)."""
    base = root / "tensorflow/lite/micro/kernels"
    if not (base / name).is_dir():
        choices = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in {"testdata"})
        raise unknown_choice("OPTIMIZED_KERNEL_DIR", name, choices)


@dataclass
class TestProgram:
    """One TFLM unit test: its name (test_<name> goal), sources and generator inputs."""

    name: str
    sources: list[str]
    generator_inputs: list[str] = field(default_factory=list)


def select_tests(rules: Mapping[str, Any], root: Path, build_type: str, skip: Mapping[str, str]) -> list[TestProgram]:
    """TFLM's own unit tests (the Makefile's MICROLITE_TEST_TARGETS less the examples')."""
    spec = rules["tests"]
    rename = spec.get("rename") or {}
    skipped = {**(spec.get("skip") or {}), **skip}
    extra = spec.get("extra") or {}
    tests: list[TestProgram] = []
    for group in spec["groups"]:
        for path in collect(root, group, build_type):
            p = Path(path)
            stem = p.stem
            base = stem[:-5] if stem.endswith("_test") else stem
            name = group.get("name", "{stem}").format(stem=stem)
            name = rename.get(name, name)
            if name in skipped:
                continue
            sources = [path]
            for companion in group.get("companions") or []:
                candidate = companion.format(dir=p.parent.as_posix(), base=base, stem=stem)
                if (root / candidate).exists():
                    sources.append(candidate)
            more = extra.get(name) or {}
            sources += list(more.get("sources") or [])
            tests.append(TestProgram(name, sources, list(more.get("generator_inputs") or [])))
    return tests
