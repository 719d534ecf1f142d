"""Targets as data: ``targets/<name>.yaml`` loaded, validated, merged along ``extends``.

A target says how to compile for a platform (toolchain, flags, glue sources),
which TARGET_ARCH values it accepts, how its programs run, and which goals it
can serve.  Python never special-cases a target: adding one is adding a file.
"""
from __future__ import annotations

import copy
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, unknown_choice
from .schema import Field, Schema, str_list, validate
from .yamlio import LocDict, load_yaml

GOALS = ("library", "binaries", "run", "tests", "projects")
RUNNER_KINDS = ("none", "host", "command")

FLAGS: Schema = {
    "common": str_list("flags for C and C++"),
    "c": str_list("flags for C only"),
    "cxx": str_list("flags for C++ only"),
    "asm": str_list("flags for assembler sources"),
    "link": str_list("linker flags"),
    "defines": str_list("preprocessor defines, NAME or NAME=VALUE"),
    "remove_defines": str_list("defines inherited from a parent to drop"),
    "libs": str_list("libraries to link, without -l"),
    "include_dirs": str_list("include folders, relative to the TFLM root unless absolute or {repo}/..."),
}

ARCH: Schema = {
    "flags": Field(dict, schema=FLAGS),
    "vars": Field(dict, values=str, doc="values for {name} in flags and runner"),
    "description": Field(str),
}

SCHEMA: Schema = {
    "description": Field(str, required=True, doc="one line saying what the target is"),
    "extends": Field(str, doc="name of the target this one builds on"),
    "abstract": Field(bool, doc="true for a base that cannot be chosen as TARGET"),
    "host": Field(bool, doc="true when programs run on the build machine (adds TF_LITE_USE_CTIME)"),
    "arch": Field(dict, schema={
        "default": Field(str, required=True, doc="TARGET_ARCH when none is given; 'host' means this machine's"),
        "allowed": str_list("the TARGET_ARCH values accepted"),
    }),
    "arches": Field(dict, values=ARCH, doc="per TARGET_ARCH flags and vars"),
    "toolchain": Field(dict, schema={
        "family": Field(str, choices=("gcc", "clang"), doc="compiler family"),
        "prefix": Field(str, doc="tool name prefix, e.g. arm-none-eabi-"),
        "cc": Field(str), "cxx": Field(str), "ar": Field(str),
        "objcopy": Field(str), "size": Field(str),
        "min_version": Field(str, doc="oldest compiler version accepted, e.g. '10.3'"),
        "install": Field(str, doc="how to get the toolchain, shown when it is missing"),
    }),
    "flags": Field(dict, schema=FLAGS),
    "optimization": Field(dict, schema={
        "core": Field(str), "kernel": Field(str), "third_party_kernel": Field(str),
    }),
    "build_types": Field(dict, values=FLAGS, doc="BUILD_TYPE name -> extra flags"),
    "optimized_kernel_dir": Field(dict, schema={
        "default": Field(str), "allowed": str_list(),
    }),
    "tflm_target_dir": Field(str, doc="TFLM folder whose files replace the core's (the Makefile's TARGET dir)"),
    "glue": str_list("our sources that replace TFLM files of the same name, relative to the target file"),
    "headers": str_list("TFLM headers this target adds to list_library_headers (TFLM-relative globs)"),
    "startup": str_list("our sources linked into every program, relative to the target file"),
    "linker_script": Field(str, doc="linker script relative to the target file (may use {vars})"),
    "runner": Field(dict, schema={
        "kind": Field(str, choices=RUNNER_KINDS, required=True),
        "command": str_list("argv with {program}; for kind: command"),
        "tool": Field(str, doc="executable the runner needs, checked before running"),
        "install": Field(str, doc="how to get the runner's tool"),
        "timeout": Field(int, doc="seconds before a hung program is killed"),
    }),
    "debug": Field(dict, schema={
        "gdb": str_list("debuggers to try in order, the first on PATH wins (e.g. gdb-multiarch, arm-none-eabi-gdb)"),
        "stub": str_list("arguments added to the runner's command to start the program halted, "
                         "with a gdb stub on 127.0.0.1:{port}; none for the host (gdb runs the program)"),
        "install": Field(str, doc="how to get a debugger, shown when none is found"),
    }),
    "goals": Field(list, items=Field(str, choices=GOALS), doc="what the target can build"),
    "project_kinds": str_list("project templates the target can produce"),
    "exclude_tests": Field(dict, values=str, doc="test name -> why it is skipped on this target"),
    "exclude_examples": Field(dict, values=str, doc="example name -> why"),
    "vars": Field(dict, values=str, doc="values for {name} in flags"),
}

# Keys whose lists are extended by a child target instead of replaced.
_APPENDING = {"flags", "glue", "startup", "headers"}


@dataclass
class Target:
    """A fully merged target, for one TARGET_ARCH."""

    name: str
    arch: str
    file: Path
    data: dict[str, Any]
    lineage: tuple[str, ...]
    vars: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def flags(self, kind: str) -> list[str]:
        """Target flags then arch flags of one kind, with {vars} substituted."""
        merged = list(self.data.get("flags", {}).get(kind) or [])
        arch = (self.data.get("arches") or {}).get(self.arch) or {}
        merged += list((arch.get("flags") or {}).get(kind) or [])
        return [self.expand(item) for item in merged]

    def expand(self, text: str) -> str:
        try:
            return text.format(**self.vars)
        except KeyError as exc:
            raise ConfigError(f"unknown variable {{{exc.args[0]}}} in {text!r}", file=self.file,
                              choices=sorted(self.vars), fix="define it under 'vars:' of the target or arch") from None

    @property
    def goals(self) -> list[str]:
        return list(self.get("goals", ["library"]))

    @property
    def is_host(self) -> bool:
        return bool(self.get("host", False))

    def relpath(self, item: str) -> Path:
        """A path from a target file (glue, linker script), relative to the file that declared it."""
        return self.data["_dirs"].get(item, self.file.parent) / self.expand(item)


class TargetRegistry:
    """All targets of a repository, loaded lazily and cached per process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._raw: dict[str, LocDict] = {}

    def names(self, include_abstract: bool = False) -> list[str]:
        found = sorted(p.stem for p in self.folder.glob("*.yaml"))
        if include_abstract:
            return found
        return [n for n in found if not self._load_raw(n).get("abstract")]

    def _load_raw(self, name: str) -> LocDict:
        if name not in self._raw:
            path = self.folder / f"{name}.yaml"
            data = load_yaml(path)
            if data is None:
                data = LocDict()
                data.file = path
            validate(data, SCHEMA)
            self._raw[name] = data
        return self._raw[name]

    def _merged(self, name: str, chain: tuple[str, ...]) -> tuple[dict[str, Any], tuple[str, ...]]:
        if name in chain:
            cycle = " -> ".join(chain + (name,))
            raw = self._load_raw(chain[-1])
            raise ConfigError(f"'extends' cycle: {cycle}", file=raw.file, line=raw.line_of("extends"),
                              key="extends", fix="make one of these targets stop extending the other")
        raw = self._load_raw(name)
        own = copy.deepcopy(dict(raw))
        dirs = {item: raw.file.parent for key in ("glue", "startup") for item in (raw.get(key) or [])}
        if raw.get("linker_script"):
            dirs[raw["linker_script"]] = raw.file.parent
        parent_name = own.pop("extends", None)
        own.pop("abstract", None)
        if parent_name is None:
            own["_dirs"] = dirs
            return own, (name,)
        if not (self.folder / f"{parent_name}.yaml").is_file():
            raise unknown_choice("target in 'extends'", parent_name, self.names(True), file=raw.file,
                                 line=raw.line_of("extends"), key="extends")
        base, lineage = self._merged(parent_name, chain + (name,))
        merged = _merge(base, own)
        merged["_dirs"] = {**base.get("_dirs", {}), **dirs}
        return merged, (name,) + lineage

    def load(self, name: str, arch: str | None) -> Target:
        """Resolve TARGET (and TARGET_ARCH, or the target's default) into a Target."""
        path = self.folder / f"{name}.yaml"
        if not path.is_file() or self._load_raw(name).get("abstract"):
            raise unknown_choice("TARGET", name, self.names())
        data, lineage = self._merged(name, ())
        arch_spec = data.get("arch") or {"default": "host"}
        chosen = arch or arch_spec["default"]
        if chosen == "host":
            chosen = host_arch()
        allowed = list(arch_spec.get("allowed") or [])
        if allowed and chosen not in allowed:
            raise unknown_choice(f"TARGET_ARCH for TARGET={name}", chosen, allowed, file=path)
        variables = {**(data.get("vars") or {})}
        variables.update(((data.get("arches") or {}).get(chosen) or {}).get("vars") or {})
        variables.setdefault("arch", chosen)
        variables.setdefault("target", name)
        return Target(name=name, arch=chosen, file=path, data=data, lineage=lineage, vars=variables)


def _merge(base: dict[str, Any], child: Mapping[str, Any], key_path: str = "") -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        top = key_path.split(".")[0] if key_path else key
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value, f"{key_path}.{key}" if key_path else key)
        elif isinstance(value, list) and isinstance(out.get(key), list) and top in _APPENDING:
            out[key] = list(out[key]) + [v for v in value if v not in out[key]]
        else:
            out[key] = value
    return out


def host_arch() -> str:
    """This machine's architecture as the Makefile names it (uname -m, x86_32 for ix86)."""
    machine = platform.machine()
    if machine in {"i386", "i486", "i586", "i686"}:
        return "x86_32"
    return {"AMD64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
