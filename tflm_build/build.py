"""The SCons build: SConstruct calls :func:`main`, which turns data into nodes.

Order of work, all before SCons builds anything: parse and check the
variables and goals, load the target, fetch or locate the dependencies, select
the sources, then declare the library, programs, tests, lists and aliases.
Every user error stops here with one message and exit status 2.
"""
from __future__ import annotations

import atexit
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import config as cfg
from .errors import ConfigError, TflmBuildError, USAGE_EXIT, closest
from .factcache import FactCache
from .library_nodes import LibraryNodes, object_path
from .scons_tools import pch
from .examples import ExampleRegistry, Program, check_app, programs_by_name
from .sources import ThirdParty, TestProgram, check_kernel_dir, load_rules, select_library, select_tests
from .targets import Target, TargetRegistry

from SCons.Action import Action

REPO = Path(__file__).resolve().parent.parent
_BIN_ACTION = Action("$OBJCOPY -O binary $SOURCE $TARGET", "$TFLM_BIN_COMSTR")


def _nothing(target: Any, source: Any, env: Any) -> int:
    """The action of goals whose work is done while reading (lists): keeps SCons quiet."""
    return 0


_QUIET_ACTION = Action(_nothing, None)
FIXED_GOALS = {
    "microlite": "the library libtensorflow-microlite.a",
    "test": "build and run every unit test and example test",
    "build": "build every program and test without running them",
    "list_library_sources": "print the library's sources",
    "list_library_headers": "print the library's headers",
    "list_third_party_sources": "print the third-party sources compiled into the library",
    "list_third_party_headers": "print the third-party headers the library needs",
    "list_gendir": "print the output folder of this configuration",
    "list_generator_dir": "print the folder of generated sources",
    "list_tests": "print the unit tests of this configuration",
    "config_info": "print the build configuration",
    "third_party_downloads": "fetch the dependencies this configuration needs",
}


@dataclass
class Build:
    """Everything main() derives, kept together for the goal declarations."""

    env: Any
    config: cfg.Config
    target: Target
    tflm: Path
    gen: Path
    toolchain: str
    rules: dict[str, Any]
    unavailable: dict[str, str] = field(default_factory=dict)  # program -> why it cannot be built here
    examples: ExampleRegistry | None = None
    library: Any = None  # sources.Library: the selection for this configuration
    lib: Any = None  # LibraryNodes: the library's objects and archives, declared on demand
    programs: dict[str, Any] = field(default_factory=dict)  # program name -> its ELF / executable node
    makers: Any = None  # _Programs: links more programs (size_<program>'s full-library twin)
    model_aware: dict[str, str] = field(default_factory=dict)  # program -> what its subset library holds
    facts: Any = None  # FactCache of what model-aware selection read from files
    sources_of: dict[str, "ProgramSources"] = field(default_factory=dict)  # program name -> what it compiles
    roots: dict[str, Path] = field(default_factory=dict)  # dependency name -> its (verified) tree root


@dataclass(frozen=True)
class ProgramSources:
    """What one program compiles: for project generation, size reports and model-aware builds."""

    name: str
    base: Path  # the TFLM root or the app's folder
    sources: tuple[str, ...]  # relative to base
    generator_inputs: tuple[str, ...]  # relative to base
    defines: tuple[str, ...]
    example: str | None  # example name, None for a TFLM unit test
    is_test: bool


def main() -> None:
    """Entry point from SConstruct; converts user errors into one message and exit 2."""
    from SCons.Script import Exit

    try:
        _main()
    except TflmBuildError as err:
        sys.stderr.write(err.render() + "\n")
        Exit(USAGE_EXIT)


def _dep_var_names() -> set[str]:
    return {f"{p.stem.upper()}_DIR" for p in (REPO / "third_party").glob("*.yaml")} | {"TFLM_ROOT"}


def _main() -> None:
    from SCons.Script import ARGUMENTS, COMMAND_LINE_TARGETS, GetOption

    config = cfg.parse(ARGUMENTS, os.environ, _dep_var_names)
    targets = TargetRegistry(REPO / "targets")
    target = targets.load(config["TARGET"], config["TARGET_ARCH"] or None)
    family = config["TOOLCHAIN"] or (target.get("toolchain", {}) or {}).get("family", "gcc")
    if family not in ("gcc", "clang"):
        raise ConfigError(f"unknown TOOLCHAIN '{family}'", key="TOOLCHAIN", choices=("gcc", "clang"),
                          fix="write TOOLCHAIN=gcc or TOOLCHAIN=clang")
    _set_scons_options(COMMAND_LINE_TARGETS)
    help_requested = bool(GetOption("help"))
    kernel_dir = config["OPTIMIZED_KERNEL_DIR"] or (target.get("optimized_kernel_dir") or {}).get("default") or ""
    config.values["OPTIMIZED_KERNEL_DIR"] = kernel_dir
    allowed_dirs = (target.get("optimized_kernel_dir") or {}).get("allowed")
    if kernel_dir and allowed_dirs is not None and kernel_dir not in allowed_dirs:
        raise ConfigError(f"OPTIMIZED_KERNEL_DIR={kernel_dir} is not supported by TARGET={target.name}",
                          file=target.file, key="optimized_kernel_dir.allowed", choices=allowed_dirs,
                          fix="choose one of the valid kernel dirs or leave OPTIMIZED_KERNEL_DIR unset")
    examples = ExampleRegistry(REPO / "examples", check_app(config["APP"]) if config["APP"] else None)

    from .deps_glue import resolve_dependencies
    roots, third_party = resolve_dependencies(REPO, config, target, kernel_dir or None)
    tflm = roots["tflite_micro"]
    rules = load_rules(REPO / "sources" / "tflm.yaml")
    if kernel_dir:
        check_kernel_dir(tflm, kernel_dir)

    from SCons.Script import DefaultEnvironment, Environment

    from .scons_tools import toolchain

    DefaultEnvironment(tools=[])  # SCons makes one for its own lookups; without tools it costs nothing

    compiles = bool({"library", "binaries"} & set(target.goals))
    tools = toolchain.resolve(target, family, config["TOOLCHAIN_ROOT"]) if compiles and not help_requested else None
    gen = Path(config["GEN_DIR"]) / config.gen_name(target.name, target.arch, family)
    env = _environment(Environment, target, config, family, tools, tflm, third_party, gen)
    _invalidate_scans_on_include_change(env, gen)
    build = Build(env, config, target, tflm, gen, family, rules, examples=examples,
                  facts=FactCache(Path(config["GEN_DIR"]) / ".facts.json"), roots=roots)

    library = select_library(rules, tflm, build_type=config["BUILD_TYPE"],
                             target_dir=target.get("tflm_target_dir") or f"tensorflow/lite/micro/{target.name}",
                             glue=[target.relpath(g) for g in target.get("glue", [])],
                             kernel_dir=kernel_dir or None, co_processor=config["CO_PROCESSOR"] or None,
                             extra_headers=target.get("headers", []), third_party=third_party)
    build.library, build.lib = library, LibraryNodes(env, tflm, gen, library)
    programs = programs_by_name(examples.all(), target.lineage, target.get("exclude_examples", {}))
    tests = select_tests(rules, tflm, config["BUILD_TYPE"], target.get("exclude_tests", {}))
    goals = _declare_goals(build, library, programs, tests, examples)
    for extension in _extensions():
        extension.declare(build, goals)
    _check_goals(COMMAND_LINE_TARGETS, goals, target, build.unavailable)
    if _needs_full_library(COMMAND_LINE_TARGETS):
        build.lib.full()
    if help_requested:
        _declare_help(build, goals, targets, examples)
    env.Default("microlite")


def _needs_full_library(requested: Sequence[str]) -> bool:
    """The goals that name the whole library; programs linking it declare it themselves."""
    return not requested or any(g in ("microlite", "compiledb") or "/" in g or os.sep in g for g in requested)


def _extensions() -> list[Any]:
    """Modules that add goals from what the build declared; each has ``declare(build, goals)``.

    Each one adds its goals (with one-line help) to ``goals`` so that goal checking
    and ``scons -h`` know them.
    """
    from . import flash, projects, size
    from .scons_tools import compiledb, runner
    return [compiledb, projects, runner, size, flash]


def _set_scons_options(goals: Sequence[str]) -> None:
    """Speed and parallelism defaults (-j from the cores), and keep going for test runs.

    `scons test` must run every test even when one fails to build or pass, as
    `make -k test` would; SetOption cannot set keep_going, so the parsed option
    value is set the way `-k` sets it.
    """
    from SCons.Script import GetOption, SetOption
    import SCons.Script.Main

    if any(g == "test" or g.startswith("test_") for g in goals):
        SCons.Script.Main.OptionsParser.values.keep_going = True

    if GetOption("num_jobs") == 1 and not os.environ.get("SCONSFLAGS", "").count("-j"):
        SetOption("num_jobs", os.cpu_count() or 1)
    SetOption("max_drift", 1)
    SetOption("implicit_cache", 1)


def _environment(Environment: Any, target: Target, config: cfg.Config, family: str, tools: dict[str, str] | None,
                 tflm: Path, third_party: ThirdParty, gen: Path) -> Any:
    from .scons_tools import cache, ccarrays, compiledb, output, pch, runner, toolchain

    # The tools we use, not "default": probing every compiler SCons knows costs a tenth of a second.
    c_tools = ["clang", "clangxx"] if family == "clang" else ["gcc", "g++"]
    env = Environment(ENV=_tool_env(), tools=[*c_tools, "gnulink", "ar", "gas"])
    toolchain.generate(env, tools)
    ccarrays.generate(env)
    runner.generate(env)
    # extension: environment tools (output lines, caches, launchers) are generated here.
    output.generate(env, verbose=config.flag("V"), gen=gen, tflm=tflm)
    cache.generate(env, cache=config["CACHE_DIR"], compiler_launcher=config["COMPILER_LAUNCHER"])
    compiledb.generate(env, gen=gen)
    env.Replace(TFLM_PCH=config.flag("PCH"), TFLM_GEN=str(gen), TFLM_TOOLCHAIN=family)
    pch.generate(env)  # after cache: it reads the launcher
    env.Decider("content-timestamp")
    # One signature database per configuration: a no-op reads and rewrites only its own
    # entries, and builds of two configurations can run at the same time.
    gen.mkdir(parents=True, exist_ok=True)
    env.SConsignFile(str(gen / ".sconsign"))
    build_type = config["BUILD_TYPE"]
    kinds = ("common", "c", "cxx", "link", "defines", "libs", "include_dirs")
    flags = {k: target.flags(k) for k in kinds}
    bt = (target.get("build_types") or {}).get(build_type) or {}
    for kind in kinds:
        flags[kind] += [target.expand(f) for f in bt.get(kind) or []]
    removed = set(bt.get("remove_defines") or []) | set(target.flags("remove_defines"))
    defines = [d for d in flags["defines"] if d not in removed]
    if target.is_host:
        defines.append("TF_LITE_USE_CTIME")
    for special in (config["OPTIMIZED_KERNEL_DIR"], config["CO_PROCESSOR"]):
        if special:
            defines.append(special.upper())
    defines += third_party.defines
    std_cxx, std_c = ("-std=c++11", "-std=c11") if config.flag("CC_VER11") else ("-std=c++17", "-std=c17")
    if family == "clang":
        flags["common"].append("-Wshadow")  # the Makefile enables it for every compiler but gcc
    include = [_include(tflm, d) for d in flags["include_dirs"]] + third_party.include_dirs
    include = [_relative(p) for p in include] + [gen / "genfiles"]
    env.Replace(
        CCFLAGS=flags["common"],
        CFLAGS=[std_c] + flags["c"],
        CXXFLAGS=[std_cxx] + flags["cxx"],
        ASFLAGS=[],
        CPPDEFINES=[_define(d) for d in defines],
        CPPPATH=[str(p) for p in include],
        LINKFLAGS=flags["link"] + flags["common"],
        LIBS=flags["libs"],
        TFLM_OPT=target.get("optimization") or {},
        # Include folders are flags: a different one must rebuild (SCons leaves them out of
        # the signature by default). Paths inside the repository stay relative, so two
        # checkouts share cache entries.
        _CPPINCFLAGS="${_concat(INCPREFIX, CPPPATH, INCSUFFIX, __env__, RDirs, TARGET, SOURCE)}",
    )
    return env


def _invalidate_scans_on_include_change(env: Any, gen: Path) -> None:
    """Rescan headers when the include path changed, since implicit_cache would miss it.

    implicit_cache keeps each object's header list between runs (the fast no-op);
    a different include path can select another header of the same name, so the
    lists are rebuilt once whenever the include path differs from the last run.
    """
    from SCons.Script import SetOption

    stamp = gen / ".include_path"
    current = "\n".join(env["CPPPATH"]) + "\n" + env["CXX"] + "\n"
    if stamp.exists() and stamp.read_text() == current:
        return
    SetOption("implicit_deps_changed", True)

    def remember() -> None:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(current)

    atexit.register(remember)


def _tool_env() -> dict[str, str]:
    """The environment compilers run with: PATH and locale, no user build variables."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "CCACHE_DIR", "DISTCC_HOSTS", "SOURCE_DATE_EPOCH")
    return {k: os.environ[k] for k in keep if k in os.environ}


def _relative(path: Path) -> Path:
    """A path inside the working folder as a relative path (stable across checkouts)."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _include(tflm: Path, folder: str) -> Path:
    path = Path(folder)
    return path if path.is_absolute() else tflm / path


def _define(text: str) -> Any:
    name, sep, value = text.partition("=")
    return (name, value) if sep else name


class _Programs:
    """Declares program binaries, sharing objects between programs that compile the same file."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.objects: dict[tuple[str, tuple[str, ...]], Any] = {}
        self.generated: dict[str, list[Any]] = {}
        opt = build.env["TFLM_OPT"].get("core", "-Os")
        self.env = build.env.Clone()
        self.env.Append(CCFLAGS=[opt])

    def generated_sources(self, base: Path, relpath: str) -> list[Any]:
        if relpath not in self.generated:
            genfiles = str(self.build.gen / "genfiles")
            self.generated[relpath] = self.build.env.TflmCcArrays(genfiles, relpath, str(base / relpath))
        return self.generated[relpath]

    def object(self, source: Any, obj_rel: str, defines: Sequence[str]) -> Any:
        key = (obj_rel, tuple(defines))
        if key not in self.objects:
            env = self.env
            folder = "core"
            if defines:
                env = self.env.Clone()
                env.Append(CPPDEFINES=[_define(d) for d in defines])
                folder = "defines_" + "_".join(d.replace("=", "_") for d in defines)[:60]
            target = str(self.build.gen / "obj" / folder / obj_rel)
            # pch: a program's source compiled with the core's flags may use the core's precompiled header.
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
        for src in sources:
            rel = src if base == self.build.tflm else f"app/{src}"
            objs += self.object(str(base / src), str(Path(rel).with_suffix(".o")), defines)
        env = self.env
        startup = self.build.target.get("startup", [])
        extra_link: list[str] = []
        for item in startup:
            path = self.build.target.relpath(item)
            objs += self.object(str(path), object_path(str(path)), ())
        script = self.build.target.get("linker_script")
        binary = str(self.build.gen / "bin" / folder / name)
        # Every program gets a linker map: size_<program> reads each object's share from it.
        extra_link.append(f"-Wl,-Map={binary}.map")
        if script:
            extra_link.append(f"-T{_relative(self.build.target.relpath(script))}")
        # The library is an explicit source, not a LIBS entry: LIBS are implicit dependencies,
        # which implicit_cache would keep from the last run (MODEL_AWARE=0 after 1 would link stale).
        prog = env.Program(binary, [*objs, *(lib or self.build.lib.full())], LIBS=list(env["LIBS"]),
                           LINKFLAGS=list(env["LINKFLAGS"]) + extra_link)
        env.SideEffect(f"{binary}.map", prog)
        if script:
            env.Depends(prog, str(self.build.target.relpath(script)))
        return prog


def _wanted_programs() -> Any:
    """Which programs need SCons nodes this run: those the goals name, or all of them.

    Declaring ~130 programs with their run, bin and size nodes is most of a no-op
    build's start-up; `scons hello_world_bin` needs one of them.  Every program's
    goals are still known (help, goal checking); `test`, `build`, file paths and
    goals of extensions that span programs declare everything.
    """
    from SCons.Script import COMMAND_LINE_TARGETS

    # Projects and lists need the programs' sources (known without nodes), not their nodes.
    requested = [g for g in COMMAND_LINE_TARGETS if not re.match(r"^(generate_.*_project|list_.*_files)$", g)]
    everything = any(g in ("test", "build", "compiledb") or "/" in g or os.sep in g for g in requested)
    cores = {re.sub(r"^(test|run|size|flash|generate|list)_|_(bin|project|files|example_sources|example_headers)$",
                    "", g) for g in requested}

    def wanted(name: str, example: str | None) -> bool:
        return everything or name in cores or (example is not None and example in cores) or any(
            name in g for g in requested)

    return wanted


def _model_aware_library(build: Build, library: Any, name: str, base: Path, sources: Sequence[str],
                         inputs: Sequence[str]) -> Any:
    """A library of the core plus only the kernels this program registers, or None for the full one."""
    from SCons.Script import COMMAND_LINE_TARGETS
    from .model_aware import select

    choice = select(build.tflm, library.kernels, library.core, [base / s for s in sources],
                    [base / i for i in inputs], build.facts)
    requested = any(g in (name, f"{name}_bin", f"run_{name}", f"test_{name}") for g in COMMAND_LINE_TARGETS)
    if requested:
        verdict = choice.reason if choice.kernels is not None else f"full library: {choice.reason}"
        print(f"tflm-build: model-aware {name}: {verdict}", file=sys.stderr)
        if choice.unregistered:
            print(f"tflm-build: warning: {name}'s models use {', '.join(choice.unregistered)}, which its "
                  f"op resolver does not register", file=sys.stderr)
    if choice.kernels is None:
        return None
    build.model_aware[name] = choice.reason
    return build.lib.subset(name, choice.kernels)


def runner_argv(target: Target) -> tuple[list[str], int]:
    runner = target.get("runner") or {"kind": "none"}
    timeout = int(runner.get("timeout") or 300)
    if runner["kind"] == "host":
        return ["{program}"], timeout
    if runner["kind"] == "command":
        return [target.expand(a) if "{program}" not in a else a for a in runner["command"]], timeout
    return [], timeout


def _declare_goals(build: Build, library: Any, programs: Mapping[str, Program], tests: list[TestProgram],
                   examples: ExampleRegistry) -> dict[str, str]:
    """Declare every goal; return name -> one-line help."""
    env, target, gen, tflm = build.env, build.target, build.gen, build.tflm
    goals = dict(FIXED_GOALS)
    makers = build.makers = _Programs(build)
    argv, timeout = runner_argv(target)
    if build.config["TEST_TIMEOUT"]:
        timeout = int(build.config["TEST_TIMEOUT"])
    pass_string = build.rules["tests"]["pass_string"]
    can_bin = "binaries" in target.goals
    can_run = "run" in target.goals and bool(argv)
    can_test = "tests" in target.goals and bool(argv)
    variables = " ".join(f"{k}={v}" for k, v in build.config.values.items()
                         if v and k in ("TARGET", "TARGET_ARCH", "OPTIMIZED_KERNEL_DIR", "CO_PROCESSOR", "BUILD_TYPE",
                                        "TOOLCHAIN", "CC_VER11", "APP", "TFLM_ROOT"))
    test_nodes: list[Any] = []
    binaries: list[Any] = []
    example_tests: dict[str, list[Any]] = {}
    unavailable: dict[str, str] = build.unavailable
    declared_tests: list[str] = []
    wanted = _wanted_programs()

    def add_program(name: str, base: Path, sources: Sequence[str], inputs: Sequence[str], defines: Sequence[str],
                    is_test: bool, expected: Sequence[str], example: str | None) -> None:
        missing = next((f for f in (*sources, *inputs) if not (base / f).exists()), None)
        if missing:
            unavailable[name] = f"{base / missing} does not exist in this tree"
            return
        build.sources_of[name] = ProgramSources(name, base, tuple(sources), tuple(inputs), tuple(defines),
                                                example, is_test)
        if not can_bin:
            return
        if is_test:
            declared_tests.append(name)
        goals[name] = f"build the program {name}"
        goals[f"{name}_bin"] = f"raw binary image of {name} (objcopy -O binary)"
        if is_test and can_test:
            goals[f"test_{name}"] = f"build and run the test {name}"
            if example:
                goals.setdefault(f"test_{example}", f"run the tests of the example {example}")
        elif not is_test and can_run:
            goals[f"run_{name}"] = f"build {name} and run it"
        if not wanted(name, example):
            return
        prog_lib = None
        if example and build.config.flag("MODEL_AWARE"):
            prog_lib = _model_aware_library(build, library, name, base, sources, inputs)
        prog = makers.program(name, base, sources, inputs, defines, prog_lib)
        build.programs[name] = prog
        binaries.append(prog)
        env.Alias(name, prog)
        env.Alias(f"{name}_bin", env.Command(str(gen / "bin" / f"{name}.bin"), prog, _BIN_ACTION))
        if is_test and can_test:
            result = env.TflmRun(str(gen / "test_results" / f"{name}.log"), prog, name=f"test_{name}", argv=argv,
                                 timeout=timeout, expected=[pass_string, *expected], echo=False,
                                 rerun=f"scons {variables} test_{name}".replace("  ", " "))
            env.Alias(f"test_{name}", result)
            test_nodes.extend(result)
            if example:
                example_tests.setdefault(example, []).extend(result)
        elif not is_test and can_run:
            result = env.TflmRun(str(gen / "run" / f"{name}.log"), prog, name=f"run_{name}", argv=argv,
                                 timeout=timeout, expected=list(expected), echo=True,
                                 rerun=f"scons {variables} run_{name}")
            env.AlwaysBuild(result)
            env.Alias(f"run_{name}", result)

    for test in tests:
        add_program(test.name, tflm, test.sources, test.generator_inputs, (), True, (), None)
    for name, prog in programs.items():
        base = prog.example.base(tflm)
        add_program(name, base, prog.sources, prog.generator_inputs, prog.defines, prog.is_test,
                    prog.expected_output, prog.example.name)
    for example, nodes in example_tests.items():
        if example not in declared_tests:  # a test program named like its example keeps test_<program>
            env.Alias(f"test_{example}", nodes)
    for example in examples.names():
        ex = examples.get(example)
        if ex.excluded_on(target.lineage, target.get("exclude_examples", {})):
            continue
        ex_programs = [p for p in ex.programs(target.lineage)]
        srcs = sorted({s for p in ex_programs for s in p.sources})
        gen_srcs = sorted({str(gen / "genfiles" / (_stem(i) + ".cc")) for p in ex_programs for i in p.generator_inputs})
        hdrs = ex.headers + sorted({str(gen / "genfiles" / (_stem(i) + ".h")) for p in ex_programs
                                     for i in p.generator_inputs})
        list_goal(env, f"list_{example}_example_sources", srcs + gen_srcs)
        list_goal(env, f"list_{example}_example_headers", hdrs)
        goals[f"list_{example}_example_sources"] = f"print the sources of {example}"
        goals[f"list_{example}_example_headers"] = f"print the headers of {example}"
    _register_summary(test_nodes)
    if can_test:
        env.Alias("test", test_nodes)
    else:
        goals.pop("test")
    if can_bin:
        env.Alias("build", binaries)
    else:
        goals.pop("build")
    tp = library.third_party
    list_goal(env, "list_library_sources", library.core + library.kernels)
    list_goal(env, "list_library_headers", library.headers)
    list_goal(env, "list_third_party_sources", [_show(p) for p in tp.sources + tp.kernel_sources])
    list_goal(env, "list_third_party_headers", [_show(p) for p in tp.headers])
    list_goal(env, "list_gendir", [str(gen) + "/"])
    list_goal(env, "list_generator_dir", [str(gen / "genfiles") + "/"])
    list_goal(env, "list_tests", declared_tests)
    info = [f"{k}={v}" for k, v in build.config.values.items()] + [f"TFLM_ROOT={tflm}", f"GENDIR={gen}/",
                                                                   f"CPPPATH={' '.join(env['CPPPATH'])}"]
    list_goal(env, "config_info", info, sep="\n")
    env.Alias("third_party_downloads", [])
    env.AlwaysBuild("third_party_downloads")
    return goals


def _stem(relpath: str) -> str:
    from .cc_arrays import output_stem
    return output_stem(relpath)


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def list_goal(env: Any, name: str, items: Iterable[str], sep: str = " ") -> None:
    """A goal that prints a list; printed while reading, and only when asked for (no Action to build)."""
    from SCons.Script import COMMAND_LINE_TARGETS

    env.AlwaysBuild(env.Alias(name, [], _QUIET_ACTION))
    if name in COMMAND_LINE_TARGETS:
        print(sep.join(str(i) for i in items))


def _check_goals(requested: Sequence[str], goals: dict[str, str], target: Target,
                 unavailable: dict[str, str]) -> None:
    """Refuse unknown goals, and goals this target cannot serve, before any work."""
    served = target.goals
    for goal in requested:
        if "/" in goal or os.sep in goal or goal.startswith("gen"):
            continue
        program = goal.removeprefix("run_").removeprefix("test_").removesuffix("_bin")
        if program in unavailable and goal not in goals:
            raise ConfigError(f"cannot build '{goal}': {unavailable[program]}",
                              fix="use a TFLM tree that has this example (TFLM_ROOT=), or pick another goal")
        kind = None
        if goal == "microlite":
            kind = "library"
        elif goal == "build":
            kind = "binaries"
        elif goal.startswith("test_") or goal == "test":
            kind = "tests"
        elif goal.startswith("run_"):
            kind = "run"
        elif goal.endswith("_bin"):
            kind = "binaries"
        if kind and kind not in served:
            can = sorted(g for g in goals if not g.startswith(("list_", "test_")))[:20]
            raise ConfigError(f"TARGET={target.name} cannot build '{goal}': it serves only {', '.join(served)}",
                              file=target.file, key="goals", choices=can,
                              fix="use TARGET=cortex_m_qemu or TARGET=linux to build and run programs"
                              if kind in ("run", "tests", "binaries") else "pick one of the goals above")
        if goal in goals:
            continue
        near = closest(goal, goals)
        raise ConfigError(f"unknown goal '{goal}'", fix=f"did you mean '{near}'? ('scons -h' lists the goals)" if near
                          else "run 'scons -h' for the goals of this target")


def _declare_help(build: Build, goals: dict[str, str], targets: TargetRegistry, examples: ExampleRegistry) -> None:
    lines = ["tflm-build: build TensorFlow Lite Micro with SCons.", "", "Variables (NAME=value):"]
    for var in cfg.VARIABLES:
        current = build.config.values.get(var.name, "")
        lines.append(f"  {var.name:<22} {var.help} [default: {var.default or '-'}; now: {current or '-'}]")
    lines.append(f"  {'<NAME>_DIR':<22} a local folder for dependency <name> (see third_party/)")
    lines += ["", f"Targets: {', '.join(targets.names())}",
              f"  TARGET_ARCH for {build.target.name}: "
              f"{', '.join((build.target.get('arch') or {}).get('allowed') or [build.target.arch])}",
              f"Examples: {', '.join(examples.names())}", "", "Goals:"]
    shown = [g for g in goals if not g.startswith("test_") and not g.startswith("list_") or g in FIXED_GOALS]
    for goal in sorted(shown):
        lines.append(f"  {goal:<34} {goals[goal]}")
    tests = sorted(g for g in goals if g.startswith("test_"))
    if tests:
        lines.append(f"  test_<name> for {len(tests)} tests ('scons list_tests' prints them)")
    build.env.Help("\n".join(lines) + "\n", append=False)  # env.Help: no default environment to set up


def _register_summary(test_nodes: list[Any]) -> None:
    """At exit: 'N passed, N failed' for the tests requested, and exit 1 on build or test failure."""
    from SCons.Script import BUILD_TARGETS, GetBuildFailures
    import SCons.Node

    started = time.monotonic()

    def summary() -> None:
        failures = GetBuildFailures()
        requested = {str(t) for t in BUILD_TARGETS}
        wanted = [n for n in test_nodes if _requested(n, requested)]
        if wanted:
            failed = sum(1 for n in wanted if n.get_state() == SCons.Node.failed or not os.path.exists(str(n)))
            print(f"{len(wanted) - failed} passed, {failed} failed")
        if failures:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

    atexit.register(summary)


def _requested(node: Any, requested: set[str]) -> bool:
    """Is this test result part of what was asked: `test`, its own goal, or a test_<example> alias?"""
    import SCons.Node.Alias

    name = os.path.basename(str(node))[: -len(".log")]
    return "test" in requested or f"test_{name}" in requested or any(
        r.startswith("test_") and r != f"test_{name}" and node in SCons.Node.Alias.default_ans.lookup(r).children()
        for r in requested if SCons.Node.Alias.default_ans.lookup(r) is not None)
