"""Program nodes: objects shared between programs, generated model data, linking (with a linker map),
and which programs this run needs at all (a no-op start-up declares only those)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from .context import Build
from .goals import SPANNING, Goals
from .library import object_path
from ..scons_tools import pch


def relative_to_cwd(path: Path) -> Path:
    """A path inside the working folder as a relative path (stable across checkouts)."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def cpp_define(text: str) -> Any:
    """NAME=VALUE as SCons's CPPDEFINES (name, value) pair; NAME alone as itself."""
    name, sep, value = text.partition("=")
    return (name, value) if sep else name


class Programs:
    """Declares program binaries, sharing objects between programs that compile the same file."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.objects: dict[tuple[str, tuple[str, ...]], Any] = {}
        self.generated: dict[str, list[Any]] = {}
        opt = build.target.optimization.core
        self.env = build.env.Clone()
        self.env.Append(CCFLAGS=[opt])

    def generated_sources(self, base: Path, relpath: str) -> list[Any]:
        if relpath not in self.generated:
            genfiles = str(self.build.gen / "genfiles")
            self.generated[relpath] = self.build.env.TflmCcArrays(genfiles, relpath, str(base / relpath))
        return self.generated[relpath]

    def object(self, source: Any, obj_rel: str, defines: Sequence[str], app: Path | None = None) -> Any:
        """One object; ``app``: an app's folder, searched for headers before the TFLM tree (an app
        copied from an example keeps TFLM's include paths, and its own copies of the headers win)."""
        key = (obj_rel, tuple(defines))
        if key not in self.objects:
            env = self.env
            folder = "core"
            if defines or app is not None:
                env = self.env.Clone()
                env.Append(CPPDEFINES=[cpp_define(d) for d in defines])
                if app is not None:
                    env.Prepend(CPPPATH=[str(relative_to_cwd(app))])
            if defines:
                folder = "defines_" + "_".join(d.replace("=", "_") for d in defines)[:60]
            target = str(self.build.gen / "obj" / folder / obj_rel)
            # A program's source compiled with the core's flags may use the core's precompiled header.
            self.objects[key] = env.Object(target, source) if defines or not isinstance(source, str) else \
                pch.objects(env, "core", target, Path(source), lambda: self.build.lib.members("core"))
        return self.objects[key]

    def program(self, name: str, base: Path, sources: Sequence[str], inputs: Sequence[str],
                defines: Sequence[str] = (), lib: Any = None, folder: str = "") -> Any:
        """Link ``name`` into bin/[folder/]: with ``lib`` (a model-aware subset) or the full library."""
        objs: list[Any] = []
        for relpath in inputs:
            cc = self.generated_sources(base, relpath)[0]
            objs += self.object(cc, "genfiles/" + str(Path(str(cc)).relative_to(self.build.gen / "genfiles")
                                                      .with_suffix(".o")), defines)
        app = None if base == self.build.tflm else base
        for src in sources:
            rel = src if app is None else f"app/{src}"
            objs += self.object(str(base / src), str(Path(rel).with_suffix(".o")), defines, app)
        env = self.env
        extra_link: list[str] = []
        for path in self.build.target.startup:
            objs += self.object(str(path), object_path(str(path)), ())
        script = self.build.target.linker_script
        binary = str(self.build.gen / "bin" / folder / name)
        # Every program gets a linker map: size_<program> reads each object's share from it.
        extra_link.append(f"-Wl,-Map={binary}.map")
        if script:
            extra_link.append(f"-T{relative_to_cwd(script)}")
        # The library is an explicit source, not a LIBS entry: LIBS are implicit dependencies,
        # which implicit_cache would keep from the last run (MODEL_AWARE=0 after 1 would link stale).
        prog = env.Program(binary, [*objs, *(lib or self.build.lib.full())], LIBS=list(env["LIBS"]),
                           LINKFLAGS=list(env["LINKFLAGS"]) + extra_link)
        env.SideEffect(f"{binary}.map", prog)
        if script:
            env.Depends(prog, str(script))
        return prog


def wanted_programs(goals: Goals) -> Any:
    """Which programs need SCons nodes this run: those the goals name, or all of them.

    Declaring ~130 programs with their run, bin and size nodes is most of a no-op
    build's start-up; `scons hello_world_bin` needs one of them.  Every program's
    goals are still known (help, goal checking); `test`, `build`, file paths and
    goals of extensions that span programs declare everything.
    """
    # Projects and lists need the programs' sources (known without nodes), not their nodes.
    requested = [g for g in goals.requested if g.family not in ("project", "project_files")]
    everything = any(g.family in SPANNING or g.goal == "compiledb" for g in requested)
    cores = {g.subject or g.goal for g in requested}

    def wanted(name: str, example: str | None) -> bool:
        return everything or name in cores or (example is not None and example in cores) or any(
            name in g.goal for g in requested)

    return wanted


def model_aware_library(build: Build, library: Any, name: str, base: Path, sources: Sequence[str],
                         inputs: Sequence[str], goals: Goals) -> Any:
    """A library of the core files and kernels this program can link, or None for the full one."""
    from .model_aware import needed_core, select

    program_sources = [base / s for s in sources]
    choice = select(build.tflm, library.kernels, library.core, program_sources, [base / i for i in inputs],
                    build.facts)
    core: list[str] = []
    if choice.kernels is not None:
        tp = library.third_party
        seeds = [*program_sources, *(build.tflm / k for k in choice.kernels), *tp.sources, *tp.kernel_sources]
        core = needed_core(build.tflm, library.core, seeds, build.facts)
    requested = any(g.subject == name and g.family in ("program", "bin", "run", "test") for g in goals.requested)
    if requested:
        verdict = (f"{choice.reason}, {len(core)} of {len(library.core)} core files"
                   if choice.kernels is not None else f"full library: {choice.reason}")
        print(f"tflm-build: model-aware {name}: {verdict}", file=sys.stderr)
        if choice.unregistered:
            print(f"tflm-build: warning: {name}'s models use {', '.join(choice.unregistered)}, which its "
                  f"op resolver does not register", file=sys.stderr)
    if choice.kernels is None:
        return None
    build.model_aware[name] = choice.reason
    return build.lib.subset(name, choice.kernels, core)
