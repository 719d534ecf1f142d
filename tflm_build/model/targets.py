"""Targets as data: ``targets/<name>.yaml`` loaded, validated, merged along ``extends``.

A target says how to compile for a platform (toolchain, flags, glue sources),
which TARGET_ARCH values it accepts, how its programs run, and which goals it
can serve.  Python never special-cases a target: adding one is adding a file.

The YAML is merged as mappings (``extends`` appends some lists, replaces the rest),
then parsed once into frozen dataclasses; every default lives on its schema field.
"""
from __future__ import annotations

import copy
import os
import platform
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import ConfigError, shorten, unknown_choice
from .schema import Field, Schema, str_list, validate, with_defaults
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
    "vars": Field(dict, values=str, default={}, doc="values for {name} in flags and runner"),
    "description": Field(str, default=""),
}

SCHEMA: Schema = {
    "description": Field(str, required=True, default="", doc="one line saying what the target is"),
    "extends": Field(str, doc="name of the target this one builds on"),
    "abstract": Field(bool, default=False, doc="true for a base that cannot be chosen as TARGET"),
    "host": Field(bool, default=False, doc="true when programs run on the build machine (adds TF_LITE_USE_CTIME)"),
    "arch": Field(dict, schema={
        "default": Field(str, required=True, default="host",
                         doc="TARGET_ARCH when none is given; 'host' means this machine's"),
        "allowed": str_list("the TARGET_ARCH values accepted (none: any)"),
    }),
    "arches": Field(dict, values=ARCH, default={}, doc="per TARGET_ARCH flags and vars"),
    "toolchain": Field(dict, schema={
        "family": Field(str, choices=("gcc", "clang"), default="gcc", doc="compiler family"),
        "prefix": Field(str, default="", doc="tool name prefix, e.g. arm-none-eabi-"),
        "cc": Field(str, default="", doc="C compiler name (default: the family's)"),
        "cxx": Field(str, default="", doc="C++ compiler name (default: the family's)"),
        "ar": Field(str, default=""), "objcopy": Field(str, default=""), "size": Field(str, default=""),
        "min_version": Field(str, default="", doc="oldest compiler version accepted, e.g. '10.3'"),
        "install": Field(str, default="", doc="how to get the toolchain, shown when it is missing"),
    }),
    "flags": Field(dict, schema=FLAGS),
    "optimization": Field(dict, schema={
        "core": Field(str, default="-Os", doc="for the core, the programs and third-party sources"),
        "kernel": Field(str, default="-O2", doc="for the kernels"),
        "third_party_kernel": Field(str, default="-O2", doc="for third-party kernel sources (CMSIS-NN)"),
    }),
    "build_types": Field(dict, values=FLAGS, default={}, doc="BUILD_TYPE name -> extra flags"),
    "optimized_kernel_dir": Field(dict, schema={
        "default": Field(str, default="", doc="OPTIMIZED_KERNEL_DIR when none is given"),
        "allowed": str_list("the kernel dirs accepted (absent: any)", default=None),
    }),
    "tflm_target_dir": Field(str, doc="TFLM folder whose files replace the core's (the Makefile's TARGET dir)"),
    "glue": str_list("our sources that replace TFLM files of the same name, relative to the target file"),
    "headers": str_list("TFLM headers this target adds to list_library_headers (TFLM-relative globs)"),
    "startup": str_list("our sources linked into every program, relative to the target file"),
    "linker_script": Field(str, doc="linker script relative to the target file (may use {vars})"),
    "runner": Field(dict, schema={
        "kind": Field(str, choices=RUNNER_KINDS, required=True, default="none"),
        "command": str_list("argv with {program}; for kind: command"),
        "tool": Field(str, default="", doc="executable the runner needs, checked before running"),
        "install": Field(str, default="", doc="how to get the runner's tool"),
        "timeout": Field(int, default=300, doc="seconds before a hung program is killed"),
    }),
    "debug": Field(dict, schema={
        "gdb": str_list("debuggers to try in order, the first on PATH wins (e.g. gdb-multiarch, arm-none-eabi-gdb)"),
        "stub": str_list("arguments added to the runner's command to start the program halted, "
                         "with a gdb stub on 127.0.0.1:{port}; none for the host (gdb runs the program)"),
        "install": Field(str, default="", doc="how to get a debugger, shown when none is found"),
    }),
    "goals": Field(list, items=Field(str, choices=GOALS), default=("library",), doc="what the target can build"),
    "project_kinds": str_list("project templates the target can produce"),
    "requires": Field(list, default=(), doc="programs its builds or projects need beyond the compiler and runner",
                      items={"tool": Field(str, required=True, doc="program name on PATH"),
                             "install": Field(str, required=True, doc="how to get it"),
                             "for": Field(str, default="", doc="what needs it")}),
    "exclude_tests": Field(dict, values=str, default={}, doc="test name -> why it is skipped on this target"),
    "exclude_examples": Field(dict, values=str, default={}, doc="example name -> why"),
    "vars": Field(dict, values=str, default={}, doc="values for {name} in flags"),
}

# Keys whose lists are extended by a child target instead of replaced.
_APPENDING = {"flags", "glue", "startup", "headers"}


@dataclass(frozen=True)
class Flags:
    """Compiler and linker flags of one kind each (``flags:``, an arch's, a build type's)."""

    common: tuple[str, ...]
    c: tuple[str, ...]
    cxx: tuple[str, ...]
    asm: tuple[str, ...]
    link: tuple[str, ...]
    defines: tuple[str, ...]
    remove_defines: tuple[str, ...]
    libs: tuple[str, ...]
    include_dirs: tuple[str, ...]

    @staticmethod
    def parse(data: Mapping[str, Any] | None) -> "Flags":
        return Flags(**with_defaults(data, FLAGS))


# The tools of each compiler family, when a target does not name its own.
FAMILY_TOOLS = {
    "gcc": {"cc": "gcc", "cxx": "g++", "ar": "ar", "objcopy": "objcopy", "size": "size"},
    "clang": {"cc": "clang", "cxx": "clang++", "ar": "ar", "objcopy": "objcopy", "size": "size"},
}


@dataclass(frozen=True)
class Toolchain:
    family: str
    prefix: str
    cc: str
    cxx: str
    ar: str
    objcopy: str
    size: str
    min_version: str
    install: str

    def tool_names(self, family: str) -> dict[str, str]:
        """cc, cxx, ar, objcopy, size for compiler ``family`` (without the prefix): the family's
        names, replaced by the target's own where it names them for its own family."""
        names = dict(FAMILY_TOOLS[family])
        if family == self.family:
            names.update({k: getattr(self, k) for k in names if getattr(self, k)})
        return names

    def install_hint(self, family: str | None = None) -> str:
        return self.install or f"install {self.prefix}{self.tool_names(family or self.family)['cxx']}"


@dataclass(frozen=True)
class Optimization:
    core: str
    kernel: str
    third_party_kernel: str


@dataclass(frozen=True)
class KernelDirs:
    default: str
    allowed: tuple[str, ...] | None  # None: any kernel dir of the TFLM tree


@dataclass(frozen=True)
class Runner:
    kind: str
    command: tuple[str, ...]
    tool: str
    install: str
    timeout: int


@dataclass(frozen=True)
class Debug:
    """How debug_<program> attaches gdb (``debug:``); no gdb names: the target cannot be debugged."""

    gdb: tuple[str, ...]
    stub: tuple[str, ...]
    install: str


@dataclass(frozen=True)
class Required:
    """A program a target needs besides its compiler and runner (idf.py, cmake, ninja, ...)."""

    tool: str
    install: str
    purpose: str


def _typed(cls: Any, data: Mapping[str, Any]) -> Any:
    return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Target:
    """A fully merged target, for one TARGET_ARCH, with every default applied."""

    name: str
    arch: str
    file: Path
    lineage: tuple[str, ...]
    vars: Mapping[str, str]
    description: str
    host: bool
    allowed_arches: tuple[str, ...]  # empty: any
    toolchain: Toolchain
    own_flags: Flags  # the target's flags then its arch's, before {vars} are substituted
    optimization: Optimization
    build_types: Mapping[str, Flags]
    kernel_dirs: KernelDirs
    tflm_target_dir: str
    glue: tuple[Path, ...]
    headers: tuple[str, ...]
    startup: tuple[Path, ...]
    linker_script: Path | None
    runner: Runner
    debug: Debug
    goals: tuple[str, ...]
    project_kinds: tuple[str, ...]
    exclude_tests: Mapping[str, str]
    exclude_examples: Mapping[str, str]
    requires: tuple[Required, ...]

    def flags(self, kind: str) -> list[str]:
        """Target flags then arch flags of one kind, with {vars} substituted."""
        return [self.expand(item) for item in getattr(self.own_flags, kind)]

    def build_type_flags(self, build_type: str) -> Flags:
        """The extra flags of BUILD_TYPE (none for a build type the target does not name)."""
        return self.build_types.get(build_type) or Flags.parse(None)

    def expand(self, text: str) -> str:
        try:
            return text.format(**self.vars)
        except KeyError as exc:
            raise ConfigError(f"unknown variable {{{exc.args[0]}}} in {shorten(text)}", file=self.file,
                              choices=sorted(self.vars), fix="define it under 'vars:' of the target or arch") from None
        except (ValueError, IndexError, AttributeError, TypeError) as exc:  # '{', '{0}', '{a.b}', '{a[0]}'
            raise ConfigError(f"cannot substitute {{variables}} in {shorten(text)}: {exc}", file=self.file,
                              fix="write '{{' and '}}' for a literal brace; '{name}' is a variable under 'vars:'") \
                from None

    @property
    def can_debug(self) -> bool:
        """Whether debug_<program> can start a program under gdb: it runs here, or under a runner with a gdb stub."""
        kind = self.runner.kind
        return kind != "none" and bool(self.debug.gdb) and (kind != "command" or bool(self.debug.stub))

    def runner_argv(self) -> tuple[list[str], int]:
        """How a program runs (argv with ``{program}``; empty when it cannot run) and the timeout."""
        if self.runner.kind == "host":
            return ["{program}"], self.runner.timeout
        if self.runner.kind == "command":
            return [self.expand(a) if "{program}" not in a else a for a in self.runner.command], self.runner.timeout
        return [], self.runner.timeout


class TargetRegistry:
    """The shipped targets and a workspace's own target folders, loaded lazily and cached per process.

    A workspace's folders come first: a target there is found before a shipped one of the
    same name (with a warning), and may ``extends:`` any shipped target.
    """

    def __init__(self, folder: Path, extra: Sequence[Path] = (), replaces: Sequence[str] = ()) -> None:
        self.folder = folder
        self.folders = (*extra, folder)
        self._raw: dict[str, LocDict] = {}
        self._warned: set[str] = set(replaces)  # shipped targets replaced on purpose: no warning

    def path(self, name: str) -> Path | None:
        """The file of target ``name``: in the first folder that has it."""
        return next((f / f"{name}.yaml" for f in self.folders if (f / f"{name}.yaml").is_file()), None)

    def names(self, include_abstract: bool = False) -> list[str]:
        found = sorted({p.stem for f in self.folders for p in f.glob("*.yaml")})
        if include_abstract:
            return found
        return [n for n in found if not self._load_raw(n).get("abstract")]

    def suggest(self, wanted: Callable[[Target], bool]) -> str:
        """``TARGET=a or TARGET=b``: the targets (at their default arch) for which ``wanted`` holds; '' if none.

        What an error suggests instead of the current target.  A target file that
        does not load is left out: it is reported when it is used.
        """
        found = []
        for name in self.names(include_abstract=True):
            try:
                if not self._load_raw(name).get("abstract") and wanted(self.load(name, None)):
                    found.append(f"TARGET={name}")
            except ConfigError:
                continue
        return " or ".join(found)

    def _load_raw(self, name: str) -> LocDict:
        if name not in self._raw:
            path = self.path(name)
            assert path is not None, name
            shipped = self.folder / f"{name}.yaml"
            if path != shipped and shipped.is_file() and name not in self._warned:
                self._warned.add(name)
                print(f"tflm-build: warning: {path}: target '{name}' shadows the shipped one ({shipped}); "
                      f"rename it (it may 'extends: {name}' under another name) to keep both, or list it "
                      f"under 'replaces:' in tflm-build.yaml", file=sys.stderr)
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
        if self.path(parent_name) is None:
            raise unknown_choice("target in 'extends'", parent_name, self.names(True), file=raw.file,
                                 line=raw.line_of("extends"), key="extends")
        base, lineage = self._merged(parent_name, chain + (name,))
        merged = _merge(base, own)
        merged["_dirs"] = {**base.get("_dirs", {}), **dirs}
        return merged, (name,) + lineage

    def load(self, name: str, arch: str | None) -> Target:
        """Resolve TARGET (and TARGET_ARCH, or the target's default) into a Target."""
        if not is_plain_name(name) or name.endswith((".yaml", ".yml")):
            raise ConfigError(f"TARGET={name} is a path, not a target name", key="TARGET",
                              choices=self.names(),
                              fix=f"put {Path(name).name if name.endswith(('.yaml', '.yml')) else 'the YAML'} in a "
                                  f"target folder of the workspace (tflm-build.yaml 'targets:') and write "
                                  f"TARGET={Path(name).stem}")
        path = self.path(name)
        if path is None or self._load_raw(name).get("abstract"):
            raise unknown_choice("TARGET", name, self.names())
        merged, lineage = self._merged(name, ())
        dirs = merged.pop("_dirs")
        data = with_defaults(merged, SCHEMA)
        chosen = arch or data["arch"]["default"]
        if chosen == "host":
            chosen = host_arch()
        allowed = list(data["arch"]["allowed"])
        if allowed and chosen not in allowed:
            raise unknown_choice(f"TARGET_ARCH for TARGET={name}", chosen, allowed, file=path)
        arch_data = with_defaults(data["arches"].get(chosen), ARCH)
        variables = {**data["vars"], **arch_data["vars"]}
        variables.setdefault("arch", chosen)
        variables.setdefault("target", name)
        own, of_arch = with_defaults(data["flags"], FLAGS), with_defaults(arch_data["flags"], FLAGS)
        flags = Flags(**{k: tuple(own[k]) + tuple(of_arch[k]) for k in FLAGS})

        def located(item: str) -> Path:
            """A path from a target file (glue, linker script), relative to the file that declared it."""
            try:
                return dirs.get(item, path.parent) / item.format(**variables)
            except KeyError as exc:
                raise ConfigError(f"unknown variable {{{exc.args[0]}}} in {item!r}", file=path,
                                  choices=sorted(variables), fix="define it under 'vars:' of the target or arch") from None

        return Target(
            name=name, arch=chosen, file=path, lineage=lineage, vars=variables,
            description=data["description"], host=data["host"], allowed_arches=tuple(allowed),
            toolchain=_typed(Toolchain, data["toolchain"]), own_flags=flags,
            optimization=_typed(Optimization, data["optimization"]),
            build_types={k: Flags.parse(v) for k, v in data["build_types"].items()},
            kernel_dirs=_typed(KernelDirs, data["optimized_kernel_dir"]),
            tflm_target_dir=data["tflm_target_dir"] or f"tensorflow/lite/micro/{name}",
            glue=tuple(located(g) for g in data["glue"]), headers=tuple(data["headers"]),
            startup=tuple(located(s) for s in data["startup"]),
            linker_script=located(data["linker_script"]) if data["linker_script"] else None,
            runner=_typed(Runner, data["runner"]),
            debug=Debug(gdb=tuple(data["debug"]["gdb"]), stub=tuple(data["debug"]["stub"]),
                        install=data["debug"]["install"]),
            goals=tuple(data["goals"]),
            project_kinds=tuple(data["project_kinds"]), exclude_tests=data["exclude_tests"],
            exclude_examples=data["exclude_examples"],
            requires=tuple(Required(r["tool"], r["install"], r.get("for") or "") for r in data["requires"]))


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


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def is_plain_name(value: str) -> bool:
    """A single path component without a separator or a leading dot (so never '.' or '..').

    TARGET must be one: a path would load YAML from anywhere and put the configuration's
    folder outside GEN_DIR.
    """
    return bool(_NAME.fullmatch(value)) and os.sep not in value and "/" not in value


def host_arch() -> str:
    """This machine's architecture as the Makefile names it (uname -m, x86_32 for ix86)."""
    machine = platform.machine()
    if machine in {"i386", "i486", "i586", "i686"}:
        return "x86_32"
    return {"AMD64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
