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
``project_templates/_common/`` are added to every kind; ``{example}`` and
``{program}`` in a template's name are replaced.  What templates cannot do
(renaming copied files, rewriting their ``#include`` lines) a kind does in one
module of this package named by ``kind.yaml`` (``module:``, see KindModule).
Templates are rendered while SCons reads the build, so a template error is
reported (file and line) before anything is written.

File specialisation by TAGS keeps the Makefile's rule: ``dir/<tag>/name``
replaces ``dir/name``, tags tried in the order TAGS, TARGET, TARGET_ARCH, the
first match winning.

Work is done only for the goals on the command line (goals.py registers them and loads this
module for those asked): declaring every project of every example would cost a second of
parsing on the real tree for nothing.
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

from ..errors import ConfigError
from ..fetch.archive import within
from ..scons_tools.project_files import ARRAY_CC, ARRAY_H, COPY, TEXT, Entry, Plan
from ..resources import TARGETS, TEMPLATES, THIRD_PARTY
from .includes import IncludeScanner, resolve_include
from . import kernel_subset
from .kinds import COMMON, Kind
from ..scons_tools import debugger


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
        rel = _under(path, TARGETS)
        if rel is not None:  # our glue: where TFLM keeps a target's files (shared glue: by its folder)
            return _join(self.library_dir, f"tensorflow/lite/micro/{rel.removeprefix('_glue/')}")
        return None


def _under(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` (posix), or None.  String work: called for every file of a project."""
    text, top = str(path), str(root)
    if text == top:
        return "."
    prefix = top if top.endswith(os.sep) else top + os.sep
    return text[len(prefix):].replace(os.sep, "/") if text.startswith(prefix) else None


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
        self.values = {**kind.data["defaults"]}
        for tag in self.tags:
            self.values.update(kind.data["tags"].get(tag) or {})
        self.kernel_dir = self.values.get("kernel_dir") or build.config["OPTIMIZED_KERNEL_DIR"]
        self.library, self.deps, self.extra_defines = self._library()
        self.library = kernel_subset.narrow(self, self.library)  # PROJECT_KERNELS=model: fewer kernels
        self.roots = _Roots(build.tflm, self.example.dir, self.program.base, self.deps,
                            kind.library_dir, kind.example_dir)
        self.specialise = _Specialiser(self.tags + [build.target.name, build.target.arch])

    def _library(self) -> tuple[Any, dict[str, Path], list[str]]:
        """The library selection, re-made when a tag of the kind chose other kernels (TAGS=CMSIS)."""
        from ..fetch.pins import TFLM, load_dependencies, needed
        from ..build.dependencies import resolve_dependencies
        from ..model.sources import check_kernel_dir

        build, target = self.build, self.build.target
        kernel_dir = self.kernel_dir or None
        if kernel_dir == build.configuration.kernel_dir:
            # The build's own selection; its dependency roots are in the order deps.needed() names them.
            names = [n for n in needed(load_dependencies(THIRD_PARTY), target.lineage, kernel_dir)
                     if n != TFLM]
            roots = build.library.third_party.roots
            assert len(names) == len(roots), (names, roots)
            return build.library, dict(zip(names, roots)), []
        check_kernel_dir(build.tflm, kernel_dir or "")
        found, third_party = resolve_dependencies(Path.cwd(), build.config, target, kernel_dir)
        deps = {name: root for name, root in found.items() if name != TFLM}
        library = build.configuration.library(build.rules, build.tflm, third_party, kernel_dir)
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
        startup = [self._copy_ours(s, files, inputs) for s in build.target.startup]
        script = build.target.linker_script
        linker_script = self._copy_ours(script, files, inputs) if script else None
        generated = {_stem(i) + ".h" for i in program.generator_inputs}
        include_dirs = self._include_dirs(library.third_party.include_dirs)
        declared = [tflm / h for h in library.headers] + list(library.third_party.headers) \
            + [program.base / h for h in self.example.headers]
        scan_roots = [tflm, program.base, *self.deps.values()]
        planned = {Path(e.source) for e in files.values() if e.how == COPY}
        self._scanner, self._scan_dirs = IncludeScanner(build.gen / "prj" / ".includes.json"), include_dirs
        self._resolved: dict[tuple[str, str | None], Path | None] = {}
        for path in self._scanner.closure(
                [*planned, *(p for p in declared if p.is_file())], include_dirs, scan_roots, generated):
            if path not in planned:
                copy(path)
        for name in self.deps:
            for lic in _dependency(name).build.license_files:
                if (self.deps[name] / lic).is_file():
                    within(self.deps[name], self.deps[name] / lic, _dependency(name).file)  # no link out
                    copy(self.deps[name] / lic)
        if (tflm / "LICENSE").is_file():
            copy(tflm / "LICENSE")
        self._warn_unused_tags()
        module, extra = self.kind.module(), None
        if module is not None:
            roles = {"library": [p for g in groups.values() for p in g], "app": app, "startup": startup,
                     "linker_script": [linker_script] if linker_script else []}
            arranged = module.arrange(self, files, roles)
            files, extra = arranged.files, arranged.context
            groups = {k: arranged.follow(v) for k, v in groups.items()}
            app, startup = arranged.follow(app), arranged.follow(startup)
            linker_script = next(iter(arranged.follow([linker_script] if linker_script else [])), None)
        context = self._context(groups, app, startup, linker_script, include_dirs, sorted(files))
        if extra is not None:
            context[self.kind.name] = extra
        for dest, text, template in self._render(context):
            files[dest] = Entry(dest, TEXT, str(template), text)
            inputs.append(str(template))
        folder = build.gen / "prj" / self.example.name / self.kind.name
        plan = Plan(folder, folder.with_name(f".{self.kind.name}.manifest.json"),
                    tuple(files[d] for d in sorted(files)))
        return Project(plan, inputs)

    def _copy_ours(self, path: Path, files: dict[str, Entry], inputs: list[str]) -> str:
        """Startup code and linker scripts go with the example: they belong to the program, not the library."""
        rel = _under(path, TARGETS)
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
        understood = set(self.kind.data["tags"])
        for tag in self.tags:
            if tag not in self.specialise.used and tag not in understood:
                print(f"tflm-build: warning: TAGS: '{tag}' matches no file of the {self.kind.name} project "
                      f"for {self.example.name} (no <dir>/{tag}/<file>) and is not a tag the kind understands"
                      f"{' (' + ', '.join(sorted(understood)) + ')' if understood else ''}", file=sys.stderr)

    # -- templates --

    def _context(self, groups: Mapping[str, list[str]], app: list[str], startup: list[str],
                 linker_script: str | None, include_dirs: Sequence[Path], files: list[str]) -> dict[str, Any]:
        build, target, flags, kind = self.build, self.build.target, self.build.flags, self.kind
        opt = target.optimization
        lib_dir, ex_dir = kind.library_dir, kind.example_dir
        spec = target.toolchain
        tools = spec.tool_names(build.toolchain)
        runner, _ = target.runner_argv()
        deps = [{"name": n, "version": d.version, "license": d.license, "url": d.url,
                 "files": [_join(lib_dir, f"third_party/{n}/{f}") for f in d.build.license_files
                           if (self.deps[n] / f).is_file()]}
                for n, d in ((n, _dependency(n)) for n in sorted(self.deps))]
        inc = [self.roots.dest(d) for d in include_dirs[:-1]]  # the last one is the example's base
        return {
            "example": self.example.name,
            "description": self.example.description,
            "program": self.program.name,
            "expected_output": list(self.program_expected()),
            "kind": kind.name,
            "target": target.name,
            "arch": target.arch,
            "target_description": target.description,
            "tags": self.tags,
            "config": build.gen.name,
            "build_type": build.config["BUILD_TYPE"],
            "kernel_dir": self.kernel_dir,
            "tflm_version": _dependency("tflite_micro").version,
            "toolchain": {
                "prefix": spec.prefix,
                "cc": tools["cc"],
                "cxx": tools["cxx"],
                "cross": bool(spec.prefix),
                "install": spec.install,
            },
            "flags": {
                "common": list(flags.common), "c": list(flags.c), "cxx": list(flags.cxx),
                "link": list(flags.link), "libs": list(flags.libs),
                "core_opt": opt.core, "kernel_opt": opt.kernel, "third_party_kernel_opt": opt.third_party_kernel,
            },
            "defines": [_define_text(d) for d in flags.defines] + [d for d in self.extra_defines if d],
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
            "debug": debugger.project_context(target),  # what debug_<program> would use, for IDE files
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

    def resolved_includes(self, path: Path) -> list[tuple[str, bool, Path | None]]:
        """Each ``#include`` of a planned file: its name, whether it is quoted, and the file it names (None:
        outside the known trees), found as the closure found it.  Only after plan() scanned the files."""
        quoted, angled = self._scanner.includes(path)
        found = []
        for name, local in [(q, True) for q in quoted] + [(a, False) for a in angled]:
            key = (name, str(path.parent) if local else None)
            if key not in self._resolved:
                hit = resolve_include(name, key[1], [str(d) for d in self._scan_dirs])
                self._resolved[key] = Path(hit) if hit is not None else None
            found.append((name, local, self._resolved[key]))
        return found

    def _render(self, context: dict[str, Any]) -> Iterable[tuple[str, str, Path]]:
        import jinja2

        # Compiled templates are cached (keyed by each template's source) below gen/: a
        # regeneration with nothing changed must not recompile them.
        cache = self.build.gen / "prj" / ".templates"
        cache.mkdir(parents=True, exist_ok=True)
        env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(self.kind.folder), str(TEMPLATES / COMMON)]),
                                 undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                 trim_blocks=True, lstrip_blocks=True,
                                 bytecode_cache=jinja2.FileSystemBytecodeCache(str(cache)))
        env.filters.update(shquote=shlex.quote, cmake=_cmake_quote, json=json.dumps)
        only_if = self.kind.data["only_if"]
        for template_dest, path in self.kind.templates().items():
            key = only_if.get(template_dest)
            if key is not None and not _truthy(context, key):
                continue
            # A template's name may hold {example} or {program} (e.g. a sketch named after its example).
            dest = template_dest.replace("{example}", self.example.name).replace("{program}", self.program.name)
            try:
                # The loader finds it by its name in the kind's folder, else in _common (as templates() chose).
                text = env.get_template(template_dest + ".j2", globals={"template_path": dest}).render(context)
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(f"template error: {exc.message}", file=path, line=exc.lineno,
                                  fix="correct the template at that line") from None
            except jinja2.TemplateError as exc:
                raise ConfigError(f"template error: {exc}", file=path, line=_template_line(exc, path),
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


def _template_line(exc: BaseException, template: Path) -> int | None:
    """The template line of a render error: jinja maps its frames back onto the template's file."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in (str(template), "<template>"):
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
    from ..build.cc_arrays import output_stem
    return output_stem(relpath)


def _strip(folder: str, path: str) -> str:
    """A project path relative to ``folder`` (the library's or the example's part of the project)."""
    if folder and path == folder:
        return "."
    return path[len(folder) + 1:] if folder and path.startswith(folder + "/") else path


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _define_text(define: str) -> str:
    """A define as NAME or NAME=value, the shell escapes of the target YAML removed."""
    name, sep, value = define.partition("=")
    return f"{name}={value.replace(chr(92) + chr(34), chr(34))}" if sep else define


def _cmake_quote(text: str) -> str:
    """A CMake argument: quoted when it has spaces, quotes or semicolons."""
    if re.fullmatch(r"[A-Za-z0-9_./+=:-]+", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dependency(name: str) -> Any:
    from ..fetch.pins import load_dependencies
    return load_dependencies(THIRD_PARTY)[name]
