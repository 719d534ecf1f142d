"""Standalone projects: the goals ``generate_<example>_<kind>_project`` and ``list_<example>_<kind>_files``.

A project is a folder under ``gen/<config>/prj/<example>/<kind>/`` that builds one
example with its own tools (make, CMake, ESP-IDF, Mbed) and needs nothing outside
it: the library's sources and headers keep TFLM's relative layout, the
third-party files the build uses go under ``third_party/<name>/``, the model data
is generated into the project, our target glue sits where TFLM keeps a target's
files (``tensorflow/lite/micro/<target>/``), and every license of what was copied
comes along.

A kind is a template folder ``project_templates/<kind>/`` (jinja2, StrictUndefined;
``kind.yaml`` says where the library and the example go, which templates are
conditional and which TAGS the kind understands).  Templates of
``project_templates/_common/`` are added to every kind.  Templates are rendered
while SCons reads the build, so a template error is reported (file and line)
before anything is written.

File specialisation by TAGS keeps the Makefile's rule: ``dir/<tag>/name``
replaces ``dir/name``, tags tried in the order TAGS, TARGET, TARGET_ARCH, the
first match winning.

Work is done only for the goals on the command line: declaring every project of
every example would cost a second of parsing on the real tree for nothing.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import ConfigError, unknown_choice
from .schema import Field, Schema, validate
from .scons_tools.project import ARRAY_CC, ARRAY_H, COPY, TEXT, Entry, Plan
from .yamlio import load_yaml

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "project_templates"
COMMON = "_common"
KIND_FILE = "kind.yaml"
_GOAL = re.compile(r"^(?:generate_(?P<g>.+)_project|list_(?P<l>.+)_files)$")
_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*[<"]([^>"\n]+)[>"]', re.M)
_C_SOURCES = (".c", ".cc", ".cpp", ".S", ".s")

KIND_SCHEMA: Schema = {
    "description": Field(str, required=True, doc="one line: what the project builds with"),
    "library_dir": Field(str, doc="folder of TFLM, third-party code and glue inside the project (default: top)"),
    "example_dir": Field(str, doc="folder of the example, its model data and startup code (default: top)"),
    "only_if": Field(dict, values=str, doc="template -> context key; the file is written only when that key is true"),
    "tags": Field(dict, values=Field(dict, values=str), doc="TAGS this kind understands -> context values they set"),
    "defaults": Field(dict, values=str, doc="context values before any tag sets them"),
}


@dataclass(frozen=True)
class Kind:
    """A project kind: its template folder and layout."""

    name: str
    folder: Path
    data: Mapping[str, Any]

    @property
    def library_dir(self) -> str:
        return self.data.get("library_dir") or ""

    @property
    def example_dir(self) -> str:
        return self.data.get("example_dir") or ""

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
    return Kind(name, path.parent, data)


# ---- goals ---------------------------------------------------------------------------------------


def declare(build: Any, goals: dict[str, str]) -> None:
    """Add the generate_/list_ goals of every example and kind; declare the requested ones."""
    from SCons.Script import COMMAND_LINE_TARGETS

    target = build.target
    kinds = list(target.get("project_kinds") or []) if "projects" in target.goals else []
    examples = sorted({s.example for s in build.sources_of.values() if s.example})
    names: dict[str, tuple[str, str, bool]] = {}
    for example in examples:
        for kind in kinds:
            names[f"generate_{example}_{kind}_project"] = (example, kind, True)
            names[f"list_{example}_{kind}_files"] = (example, kind, False)
            goals[f"generate_{example}_{kind}_project"] = \
                f"write a standalone {kind} project for {example} into {build.gen}/prj/{example}/{kind}/"
            goals[f"list_{example}_{kind}_files"] = f"print the files of the {kind} project for {example}"
    for goal in COMMAND_LINE_TARGETS:
        if goal in names:
            example, kind, generate = names[goal]
            _declare_goal(build, goal, example, kind, generate)
        elif goal not in goals and _GOAL.match(goal):
            raise _bad_goal(build, goal, kinds)


def _declare_goal(build: Any, goal: str, example: str, kind_name: str, generate: bool) -> None:
    from .build import list_goal

    project = ProjectBuilder(build, load_kind(kind_name), example).plan()
    if generate:
        from .scons_tools import project as tool

        tool.generate(build.env)
        build.env.Alias(goal, build.env.TflmProject(project.plan, project.inputs))
    else:
        list_goal(build.env, goal, sorted(e.dest for e in project.plan.entries), sep="\n")


def _bad_goal(build: Any, goal: str, kinds: list[str]) -> ConfigError:
    """Why a generate_/list_ goal cannot be served: unknown example or kind, or not on this target."""
    target = build.target
    middle = next(v for v in _GOAL.match(goal).groupdict().values() if v)  # type: ignore[union-attr]
    all_examples = build.examples.names()
    example = max((e for e in all_examples if middle.startswith(e + "_")), key=len, default=None)
    if example is None:
        return unknown_choice("example in goal " + repr(goal), middle.rsplit("_", 1)[0], all_examples)
    kind = middle[len(example) + 1:]
    if "projects" not in target.goals:
        return ConfigError(f"TARGET={target.name} cannot generate projects", file=target.file, key="goals",
                           fix="add 'projects' to its goals and list its project_kinds, or pick another TARGET")
    if kind not in kinds:
        known = kind_names()
        where = f"TARGET={target.name} cannot produce '{kind}' projects" if kind in known \
            else f"unknown project kind '{kind}'"
        producers = _targets_producing(kind) if kind in known else []
        return ConfigError(where, file=target.file, key="project_kinds", choices=kinds,
                           fix=f"use TARGET={' or TARGET='.join(producers)} for '{kind}' projects" if producers
                           else f"choose one of {', '.join(kinds)} (kinds that exist: {', '.join(known)})")
    program = next((p for p, why in build.unavailable.items() if p == example or p.startswith(example)), None)
    why = build.unavailable.get(program or "", None) or "it is excluded on this target"
    return ConfigError(f"cannot generate a project for '{example}' on TARGET={target.name}: {why}",
                       fix="use a TFLM tree that has this example (TFLM_ROOT=), or another TARGET")


def _targets_producing(kind: str) -> list[str]:
    from .targets import TargetRegistry

    registry = TargetRegistry(REPO / "targets")
    return [n for n in registry.names() if kind in (registry.load(n, None).get("project_kinds") or [])]


# ---- the plan of one project ---------------------------------------------------------------------


@dataclass
class Project:
    """What one generate/list goal needs: the file plan and the inputs SCons must watch."""

    plan: Plan
    inputs: list[str]


@dataclass
class _Roots:
    """Where each input tree lives and where its files go in the project."""

    tflm: Path
    example_dir: str  # the example's folder, relative to its base
    example_base: Path  # the TFLM root or an app's folder
    deps: dict[str, Path]  # dependency name -> tree root (TFLM excluded)
    library_dir: str
    example_out: str

    def dest(self, path: Path) -> str | None:
        """Project path of an input file, or None when it is outside every known tree."""
        rel = _under(path, self.example_base)
        if rel is not None and (self.example_base != self.tflm or rel.startswith(self.example_dir + "/")):
            return _join(self.example_out, rel)
        for name, root in sorted(self.deps.items(), key=lambda item: -len(str(item[1]))):
            rel = _under(path, root)
            if rel is not None:
                return _join(self.library_dir, f"third_party/{name}/{rel}")
        rel = _under(path, self.tflm)
        if rel is not None:
            return _join(self.library_dir, rel)
        rel = _under(path, REPO / "targets")
        if rel is not None:  # our glue: where TFLM keeps a target's files (shared glue: by its folder)
            return _join(self.library_dir, f"tensorflow/lite/micro/{rel.removeprefix('_glue/')}")
        return None


def _under(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def _join(folder: str, rel: str) -> str:
    return posixpath.normpath(f"{folder}/{rel}" if folder else rel)


@dataclass
class _Specialiser:
    """The Makefile's TAGS rule: ``dir/<tag>/name`` replaces ``dir/name``; first tag that matches wins."""

    tags: list[str]
    used: set[str] = field(default_factory=set)
    _subdirs: dict[Path, set[str]] = field(default_factory=dict)

    def __call__(self, path: Path) -> Path:
        folder = path.parent
        if folder not in self._subdirs:
            try:
                self._subdirs[folder] = {e.name for e in os.scandir(folder) if e.is_dir()}
            except OSError:
                self._subdirs[folder] = set()
        for tag in self.tags:
            if tag in self._subdirs[folder] and (folder / tag / path.name).is_file():
                self.used.add(tag)
                return folder / tag / path.name
        return path


class ProjectBuilder:
    """Turns the build's selection for one example into the file plan of one project kind."""

    def __init__(self, build: Any, kind: Kind, example: str) -> None:
        self.build = build
        self.kind = kind
        self.example = build.examples.get(example)
        self.program = _main_program([s for s in build.sources_of.values() if s.example == example], example)
        self.tags = build.config["TAGS"].split()
        self.values = {**(kind.data.get("defaults") or {})}
        for tag in self.tags:
            self.values.update((kind.data.get("tags") or {}).get(tag) or {})
        self.kernel_dir = self.values.get("kernel_dir") or build.config["OPTIMIZED_KERNEL_DIR"]
        self.library, self.deps, self.extra_defines = self._library()
        self.roots = _Roots(build.tflm, self.example.data.get("dir") or "", self.program.base, self.deps,
                            kind.library_dir, kind.example_dir)
        self.specialise = _Specialiser(self.tags + [build.target.name, build.target.arch])

    def _library(self) -> tuple[Any, dict[str, Path], list[str]]:
        """The library selection, re-made when a tag of the kind chose other kernels (TAGS=CMSIS)."""
        from .deps import TFLM, load_dependencies, needed
        from .deps_glue import resolve_dependencies
        from .sources import check_kernel_dir, select_library

        build, target = self.build, self.build.target
        kernel_dir = self.kernel_dir or None
        if kernel_dir == (build.config["OPTIMIZED_KERNEL_DIR"] or None):
            # The build's own selection; its dependency roots are in the order deps.needed() names them.
            names = [n for n in needed(load_dependencies(REPO / "third_party"), target.lineage, kernel_dir)
                     if n != TFLM]
            roots = build.library.third_party.roots
            assert len(names) == len(roots), (names, roots)
            return build.library, dict(zip(names, roots)), []
        check_kernel_dir(build.tflm, kernel_dir or "")
        found, third_party = resolve_dependencies(REPO, build.config, target, kernel_dir)
        deps = {name: root for name, root in found.items() if name != TFLM}
        library = select_library(build.rules, build.tflm, build_type=build.config["BUILD_TYPE"],
                                 target_dir=target.get("tflm_target_dir") or f"tensorflow/lite/micro/{target.name}",
                                 glue=[target.relpath(g) for g in target.get("glue", [])],
                                 kernel_dir=kernel_dir, co_processor=build.config["CO_PROCESSOR"] or None,
                                 extra_headers=target.get("headers", []), third_party=third_party)
        return library, deps, [(kernel_dir or "").upper(), *third_party.defines]

    # -- files --

    def plan(self) -> Project:
        build, roots, library = self.build, self.roots, self.library
        tflm = build.tflm
        files: dict[str, Entry] = {}
        inputs: list[str] = []

        def copy(path: Path) -> str:
            chosen = self.specialise(path)
            dest = roots.dest(path)
            if dest is None:
                raise ConfigError(f"{path} is outside the TFLM tree and the dependencies; it cannot be exported",
                                  fix="keep project inputs inside the TFLM tree, a dependency or the app's folder")
            if dest not in files:
                files[dest] = Entry(dest, COPY, str(chosen))
                inputs.append(str(chosen))
            return dest

        def lib_path(src: str) -> Path:
            return Path(src) if Path(src).is_absolute() else tflm / src

        groups = {
            "core": [copy(lib_path(s)) for s in library.core],
            "kernels": [copy(lib_path(s)) for s in library.kernels],
            "third_party": [copy(p) for p in library.third_party.sources],
            "third_party_kernels": [copy(p) for p in library.third_party.kernel_sources],
        }
        program = self.program
        app = [copy(program.base / s) for s in program.sources]
        for relpath in program.generator_inputs:
            stem = _stem(relpath)
            source = str(program.base / relpath)
            for how, suffix in ((ARRAY_CC, ".cc"), (ARRAY_H, ".h")):
                dest = _join(self.kind.example_dir, stem + suffix)
                files[dest] = Entry(dest, how, source, f"{stem}.h")
            app.append(_join(self.kind.example_dir, stem + ".cc"))
            inputs.append(source)
        startup = [self._copy_ours(build.target.relpath(s), files, inputs) for s in build.target.get("startup", [])]
        script = build.target.get("linker_script")
        linker_script = self._copy_ours(build.target.relpath(script), files, inputs) if script else None
        generated = {_stem(i) + ".h" for i in program.generator_inputs}
        include_dirs = self._include_dirs(library.third_party.include_dirs)
        declared = [tflm / h for h in library.headers] + list(library.third_party.headers) \
            + [program.base / h for h in self.example.headers]
        scan_roots = [tflm, program.base, *self.deps.values()]
        planned = {Path(e.source) for e in files.values() if e.how == COPY}
        for path in _IncludeScanner(build.gen / "prj" / ".includes.json").closure(
                [*planned, *(p for p in declared if p.is_file())], include_dirs, scan_roots, generated):
            if path not in planned:
                copy(path)
        for name in self.deps:
            for lic in _dependency(name).build.license_files:
                if (self.deps[name] / lic).is_file():
                    copy(self.deps[name] / lic)
        if (tflm / "LICENSE").is_file():
            copy(tflm / "LICENSE")
        self._warn_unused_tags()
        context = self._context(groups, app, startup, linker_script, include_dirs, sorted(files))
        for dest, text, template in self._render(context):
            files[dest] = Entry(dest, TEXT, str(template), text)
            inputs.append(str(template))
        folder = build.gen / "prj" / self.example.name / self.kind.name
        plan = Plan(folder, folder.with_name(f".{self.kind.name}.manifest.json"),
                    tuple(files[d] for d in sorted(files)))
        return Project(plan, inputs)

    def _copy_ours(self, path: Path, files: dict[str, Entry], inputs: list[str]) -> str:
        """Startup code and linker scripts go with the example: they belong to the program, not the library."""
        rel = _under(path, REPO / "targets")
        dest = _join(self.kind.example_dir, rel if rel is not None else path.name)
        chosen = self.specialise(path)
        files[dest] = Entry(dest, COPY, str(chosen))
        inputs.append(str(chosen))
        return dest

    def _include_dirs(self, third_party_dirs: Sequence[Path]) -> list[Path]:
        """Absolute include folders for scanning: TFLM's (from the target's flags) then the dependencies'."""
        target = self.build.target
        dirs = [Path(d) if Path(d).is_absolute() else self.build.tflm / d for d in target.flags("include_dirs")]
        return dirs + list(third_party_dirs) + [self.program.base]

    def _warn_unused_tags(self) -> None:
        understood = set((self.kind.data.get("tags") or {}))
        for tag in self.tags:
            if tag not in self.specialise.used and tag not in understood:
                print(f"tflm-build: warning: TAGS: '{tag}' matches no file of the {self.kind.name} project "
                      f"for {self.example.name} (no <dir>/{tag}/<file>) and is not a tag the kind understands"
                      f"{' (' + ', '.join(sorted(understood)) + ')' if understood else ''}", file=sys.stderr)

    # -- templates --

    def _context(self, groups: Mapping[str, list[str]], app: list[str], startup: list[str],
                 linker_script: str | None, include_dirs: Sequence[Path], files: list[str]) -> dict[str, Any]:
        build, target, env, kind = self.build, self.build.target, self.build.env, self.kind
        from .build import runner_argv

        opt = env["TFLM_OPT"]
        lib_dir, ex_dir = kind.library_dir, kind.example_dir
        spec = target.get("toolchain") or {}
        family = build.toolchain
        defaults = {"gcc": ("gcc", "g++"), "clang": ("clang", "clang++")}[family]
        same_family = family == spec.get("family", "gcc")
        runner, _ = runner_argv(target)
        deps = [{"name": n, "version": d.version, "license": d.license, "url": d.url,
                 "files": [_join(lib_dir, f"third_party/{n}/{f}") for f in d.build.license_files
                           if (self.deps[n] / f).is_file()]}
                for n, d in ((n, _dependency(n)) for n in sorted(self.deps))]
        inc = [self.roots.dest(d) for d in include_dirs[:-1]]  # the last one is the example's base
        return {
            "example": self.example.name,
            "description": self.example.data["description"],
            "program": self.program.name,
            "expected_output": list(self.program_expected()),
            "kind": kind.name,
            "target": target.name,
            "arch": target.arch,
            "target_description": target.get("description"),
            "tags": self.tags,
            "config": build.gen.name,
            "build_type": build.config["BUILD_TYPE"],
            "kernel_dir": self.kernel_dir,
            "tflm_version": _dependency("tflite_micro").version,
            "toolchain": {
                "prefix": spec.get("prefix") or "",
                "cc": (spec.get("cc") if same_family else None) or defaults[0],
                "cxx": (spec.get("cxx") if same_family else None) or defaults[1],
                "cross": bool(spec.get("prefix")),
                "install": spec.get("install") or "",
            },
            "flags": {
                "common": list(env["CCFLAGS"]), "c": list(env["CFLAGS"]), "cxx": list(env["CXXFLAGS"]),
                "link": list(env["LINKFLAGS"]), "libs": list(env["LIBS"]),
                "core_opt": opt.get("core", "-Os"), "kernel_opt": opt.get("kernel", "-O2"),
                "third_party_kernel_opt": opt.get("third_party_kernel", "-O2"),
            },
            "defines": [_define_text(d) for d in env["CPPDEFINES"]] + [d for d in self.extra_defines if d],
            "library": {
                "dir": lib_dir,
                **{k: [_strip(lib_dir, p) for p in v] for k, v in groups.items()},
                "include_dirs": _unique(_strip(lib_dir, d) for d in inc if d is not None),
            },
            "app": {
                "dir": ex_dir,
                "sources": [_strip(ex_dir, p) for p in app],
                "startup": [_strip(ex_dir, p) for p in startup],
                "defines": list(self.program.defines),
                "include_dirs": _unique(["."] + self.example_include_dirs()),
            },
            "linker_script": _strip(ex_dir, linker_script) if linker_script else None,
            "runner": list(runner),  # argv; "{program}" stands for the built program
            "dependencies": deps,
            "files": files,
            **self.values,
        }

    def program_expected(self) -> Sequence[str]:
        for program in self.example.programs(self.build.target.lineage):
            if program.name == self.program.name:
                return program.expected_output
        return ()

    def example_include_dirs(self) -> list[str]:
        return list(self.example.include_dirs)

    def _render(self, context: dict[str, Any]) -> Iterable[tuple[str, str, Path]]:
        import jinja2

        env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(self.kind.folder), str(TEMPLATES / COMMON)]),
                                 undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                 trim_blocks=True, lstrip_blocks=True)
        env.filters.update(shquote=shlex.quote, cmake=_cmake_quote, json=json.dumps)
        only_if = self.kind.data.get("only_if") or {}
        for dest, path in self.kind.templates().items():
            key = only_if.get(dest)
            if key is not None and not _truthy(context, key):
                continue
            try:
                text = env.from_string(path.read_text(), globals={"template_path": dest}).render(context)
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(f"template error: {exc.message}", file=path, line=exc.lineno,
                                  fix="correct the template at that line") from None
            except jinja2.TemplateError as exc:
                raise ConfigError(f"template error: {exc}", file=path, line=_template_line(exc),
                                  choices=sorted(k for k in context if not k.startswith("_")),
                                  fix="use only the context values listed above (or fix the expression)") from None
            yield dest, text, path


def _truthy(context: Mapping[str, Any], condition: str) -> bool:
    """``key.sub`` is true when that context value is; ``key=value`` when it equals value."""
    key, sep, expected = condition.partition("=")
    value: Any = context
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return str(value) == expected if sep else bool(value)


def _template_line(exc: BaseException) -> int | None:
    """The template line of a render error: jinja maps its frames back onto the template ('<template>')."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _main_program(candidates: list[Any], example: str) -> Any:
    """The program a project builds: the one named like the example, else the first non-test."""
    by_name = {c.name: c for c in candidates}
    if example in by_name:
        return by_name[example]
    return next((c for c in candidates if not c.is_test), candidates[0])


def _stem(relpath: str) -> str:
    from .cc_arrays import output_stem
    return output_stem(relpath)


def _strip(folder: str, path: str) -> str:
    """A project path relative to ``folder`` (the library's or the example's part of the project)."""
    if folder and path == folder:
        return "."
    return path[len(folder) + 1:] if folder and path.startswith(folder + "/") else path


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _define_text(define: Any) -> str:
    """A CPPDEFINES item as NAME or NAME=value, the shell escapes of the target YAML removed."""
    if isinstance(define, tuple):
        return f"{define[0]}={str(define[1]).replace(chr(92) + chr(34), chr(34))}"
    return str(define)


def _cmake_quote(text: str) -> str:
    """A CMake argument: quoted when it has spaces, quotes or semicolons."""
    if re.fullmatch(r"[A-Za-z0-9_./+=:-]+", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dependency(name: str) -> Any:
    from .deps import load_dependencies
    return load_dependencies(REPO / "third_party")[name]


class _IncludeScanner:
    """The ``#include`` closure of the project's files, so no header the sources need is left out.

    Conditional includes are followed too (a superset is harmless); names that resolve
    nowhere in the known trees are system headers.  Each file's include list is cached
    by (mtime, size) in ``gen/<config>/prj/.includes.json``, so an unchanged tree costs
    one stat per file.
    """

    def __init__(self, cache: Path) -> None:
        self.cache_path = cache
        try:
            self.cache: dict[str, list[Any]] = json.loads(cache.read_text())
        except (FileNotFoundError, ValueError):
            self.cache = {}
        self.dirty = False

    def includes(self, path: Path) -> tuple[list[str], list[str]]:
        st = path.stat()
        key = str(path)
        hit = self.cache.get(key)
        if hit and hit[0] == st.st_mtime_ns and hit[1] == st.st_size:
            return hit[2], hit[3]
        text = path.read_bytes()
        quoted: list[str] = []
        angled: list[str] = []
        for match in _INCLUDE.finditer(text):
            line_start = text.rfind(b"\n", 0, match.start()) + 1
            bracket = text[line_start:match.end()].rstrip()[-1:]
            (angled if bracket == b">" else quoted).append(match.group(1).decode(errors="replace").strip())
        self.cache[key] = [st.st_mtime_ns, st.st_size, quoted, angled]
        self.dirty = True
        return quoted, angled

    def closure(self, start: Iterable[Path], include_dirs: Sequence[Path], roots: Sequence[Path],
                generated: set[str]) -> list[Path]:
        seen: set[Path] = set()
        todo = [p for p in start]
        found: list[Path] = []
        resolved: dict[tuple[str, Path | None], Path | None] = {}  # most names are included many times
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            found.append(path)
            if path.suffix in (".tflite", ".bmp", ".wav", ".csv", "") or not path.is_file():
                continue
            quoted, angled = self.includes(path)
            for name, local in [(q, True) for q in quoted] + [(a, False) for a in angled]:
                if name in generated:
                    continue
                key = (name, path.parent if local else None)
                if key not in resolved:
                    resolved[key] = _resolve(name, key[1], include_dirs)
                hit = resolved[key]
                if hit is not None and any(_under(hit, r) is not None for r in roots):
                    todo.append(hit)
        if self.dirty:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_name(self.cache_path.name + ".tmp")
            tmp.write_text(json.dumps(self.cache))
            tmp.replace(self.cache_path)
        return found


def _resolve(name: str, local: Path | None, include_dirs: Sequence[Path]) -> Path | None:
    for folder in ([local] if local is not None else []) + list(include_dirs):
        candidate = folder / name
        if candidate.is_file():
            return Path(os.path.normpath(candidate))
    return None
