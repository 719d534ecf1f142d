"""The SCons build: SConstruct calls :func:`main`, which turns data into nodes.

Order of work, all before SCons builds anything: parse and check the
variables and goals, load the target, fetch or locate the dependencies, select
the sources, then declare the library, programs, tests, lists and aliases.
Every user error stops here with one message and exit status 2.
"""
from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import variables as cfg
from ..errors import ConfigError, TflmBuildError, USAGE_EXIT, closest
from ..files import write_atomic
from .factcache import FactCache
from .configuration import CompileFlags, Configuration, resolve
from .goals import SPANNING, Extension, Goals, list_goal, parse
from .library import LibraryNodes, object_path
from ..model.examples import ExampleRegistry, Program, check_app, programs_by_name
from ..model.sources import TestProgram, check_kernel_dir, load_rules, select_tests
from ..model.targets import Target, TargetRegistry
from ..resources import EXAMPLES, REPO, SOURCES, TARGETS, dependency_variables

from SCons.Action import Action

_BIN_ACTION = Action("$OBJCOPY -O binary $SOURCE $TARGET", "$TFLM_BIN_COMSTR")

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

# Goals too many to list one by one in help and error messages ('scons list_tests' names the tests).
_UNLISTED = ("test", "list", "example_sources", "example_headers", "project_files")


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
    configuration: Configuration
    flags: CompileFlags  # the configuration's flags, as the environment got them
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


def _main() -> None:
    from SCons.Script import ARGUMENTS, COMMAND_LINE_TARGETS, GetOption

    targets = TargetRegistry(TARGETS)
    configuration = resolve(cfg.parse(ARGUMENTS, os.environ, dependency_variables), targets)
    config, target, family, kernel_dir = (configuration.variables, configuration.target, configuration.toolchain,
                                          configuration.kernel_dir)
    requested = Goals(COMMAND_LINE_TARGETS, FIXED_GOALS)
    _set_scons_options(requested)
    help_requested = bool(GetOption("help"))
    examples = ExampleRegistry(EXAMPLES, check_app(config["APP"]) if config["APP"] else None)

    from .dependencies import resolve_dependencies
    roots, third_party = resolve_dependencies(REPO, config, target, kernel_dir)
    tflm = roots["tflite_micro"]
    rules = load_rules(SOURCES)
    if kernel_dir:
        check_kernel_dir(tflm, kernel_dir)

    from SCons.Script import DefaultEnvironment, Environment

    DefaultEnvironment(tools=[])  # SCons makes one for its own lookups; without tools it costs nothing

    compiles = bool({"library", "binaries"} & set(target.goals)) and not help_requested
    gen = configuration.gen
    flags = configuration.compile_flags(tflm, third_party)
    env = _environment(Environment, configuration, flags, compiles, tflm)
    _invalidate_scans_on_include_change(env, gen)
    build = Build(env, config, target, tflm, gen, family, rules, configuration=configuration, flags=flags,
                  examples=examples, facts=FactCache(configuration.gen_root / ".facts.json"), roots=roots)

    library = configuration.library(rules, tflm, third_party, kernel_dir)
    build.library, build.lib = library, LibraryNodes(env, tflm, gen, library, target.optimization)
    programs = programs_by_name(examples.all(), target.lineage, target.exclude_examples)
    tests = select_tests(rules, tflm, configuration.build_type, target.exclude_tests)
    goals = _declare_goals(build, library, programs, tests, examples, requested)
    for extension in _extensions():
        extension.declare(build, goals)
    _check_goals(goals, target, build.unavailable)
    if _needs_full_library(goals):
        build.lib.full()
    if help_requested:
        _declare_help(build, goals, targets, examples)
    env.Default("microlite")


def _needs_full_library(goals: Goals) -> bool:
    """The goals that name the whole library; programs linking it declare it themselves."""
    return not goals.requested or goals.asked("library", "file") or any(g.goal == "compiledb" for g in goals.requested)


def _extensions() -> list[Extension]:
    """The capabilities that add goals from what the build declared (see goals.Extension).

    Each one registers its goals (with one-line help) into ``goals`` so that goal
    checking and ``scons -h`` know them.
    """
    from . import flash, size
    from ..projects import generate as projects
    from ..scons_tools import compiledb, runner
    return [compiledb, projects, runner, size, flash]


def _set_scons_options(goals: Goals) -> None:
    """Speed and parallelism defaults (-j from the cores), and keep going for test runs.

    `scons test` must run every test even when one fails to build or pass, as
    `make -k test` would; SetOption cannot set keep_going, so the parsed option
    value is set the way `-k` sets it.
    """
    from SCons.Script import GetOption, SetOption
    import SCons.Script.Main

    if goals.asked("all_tests", "test"):
        SCons.Script.Main.OptionsParser.values.keep_going = True

    if GetOption("num_jobs") == 1 and not os.environ.get("SCONSFLAGS", "").count("-j"):
        SetOption("num_jobs", os.cpu_count() or 1)
    SetOption("max_drift", 1)
    SetOption("implicit_cache", 1)


def _environment(Environment: Any, configuration: Configuration, flags: CompileFlags, compiles: bool,
                 tflm: Path) -> Any:
    from ..scons_tools import cache, compiledb, genfiles, output, runner, toolchain, tool

    config, gen = configuration.variables, configuration.gen
    # The tools we use, not "default": probing every compiler SCons knows costs a tenth of a second.
    # Ours read their settings from the TFLM_* construction variables, set before any tool runs.
    c_tools = ["clang", "clangxx"] if configuration.toolchain == "clang" else ["gcc", "g++"]
    ours = [toolchain] if compiles else []
    ours += [genfiles, runner, output, cache, compiledb]
    env = Environment(ENV=_tool_env(), tools=[*c_tools, "gnulink", "ar", "gas", *map(tool, ours)],
                      TFLM_TARGET=configuration.target, TFLM_TOOLCHAIN=configuration.toolchain,
                      TFLM_TOOLCHAIN_ROOT=config["TOOLCHAIN_ROOT"], TFLM_VERBOSE=config.flag("V"),
                      TFLM_GEN=str(gen), TFLM_TREE=str(tflm), TFLM_CACHE_DIR=config["CACHE_DIR"],
                      TFLM_COMPILER_LAUNCHER=config["COMPILER_LAUNCHER"])
    env.Decider("content-timestamp")
    # One signature database per configuration: a no-op reads and rewrites only its own
    # entries, and builds of two configurations can run at the same time.
    gen.mkdir(parents=True, exist_ok=True)
    env.SConsignFile(str(gen / ".sconsign"))
    include = [_relative(p) for p in flags.include_dirs] + [gen / "genfiles"]
    env.Replace(
        CCFLAGS=list(flags.common),
        CFLAGS=list(flags.c),
        CXXFLAGS=list(flags.cxx),
        ASFLAGS=[],
        CPPDEFINES=[_define(d) for d in flags.defines],
        CPPPATH=[str(p) for p in include],
        LINKFLAGS=list(flags.link),
        LIBS=list(flags.libs),
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

    atexit.register(write_atomic, stamp, current)


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


def _define(text: str) -> Any:
    name, sep, value = text.partition("=")
    return (name, value) if sep else name


class _Programs:
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

    def object(self, source: Any, obj_rel: str, defines: Sequence[str]) -> Any:
        key = (obj_rel, tuple(defines))
        if key not in self.objects:
            env = self.env
            folder = "core"
            if defines:
                env = self.env.Clone()
                env.Append(CPPDEFINES=[_define(d) for d in defines])
                folder = "defines_" + "_".join(d.replace("=", "_") for d in defines)[:60]
            self.objects[key] = env.Object(str(self.build.gen / "obj" / folder / obj_rel), source)
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
        extra_link: list[str] = []
        for path in self.build.target.startup:
            objs += self.object(str(path), object_path(str(path)), ())
        script = self.build.target.linker_script
        binary = str(self.build.gen / "bin" / folder / name)
        # Every program gets a linker map: size_<program> reads each object's share from it.
        extra_link.append(f"-Wl,-Map={binary}.map")
        if script:
            extra_link.append(f"-T{_relative(script)}")
        # The library is an explicit source, not a LIBS entry: LIBS are implicit dependencies,
        # which implicit_cache would keep from the last run (MODEL_AWARE=0 after 1 would link stale).
        prog = env.Program(binary, [*objs, *(lib or self.build.lib.full())], LIBS=list(env["LIBS"]),
                           LINKFLAGS=list(env["LINKFLAGS"]) + extra_link)
        env.SideEffect(f"{binary}.map", prog)
        if script:
            env.Depends(prog, str(script))
        return prog


def _wanted_programs(goals: Goals) -> Any:
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


def _model_aware_library(build: Build, library: Any, name: str, base: Path, sources: Sequence[str],
                         inputs: Sequence[str], goals: Goals) -> Any:
    """A library of the core plus only the kernels this program registers, or None for the full one."""
    from .model_aware import select

    choice = select(build.tflm, library.kernels, library.core, [base / s for s in sources],
                    [base / i for i in inputs], build.facts)
    requested = any(g.subject == name and g.family in ("program", "bin", "run", "test") for g in goals.requested)
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


def _declare_goals(build: Build, library: Any, programs: Mapping[str, Program], tests: list[TestProgram],
                   examples: ExampleRegistry, goals: Goals) -> Goals:
    """Declare every goal of the programs, tests and lists into ``goals``."""
    env, target, gen, tflm = build.env, build.target, build.gen, build.tflm
    makers = build.makers = _Programs(build)
    argv, timeout = target.runner_argv()
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
    wanted = _wanted_programs(goals)

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
            prog_lib = _model_aware_library(build, library, name, base, sources, inputs, goals)
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
        if ex.excluded_on(target.lineage, target.exclude_examples):
            continue
        ex_programs = [p for p in ex.programs(target.lineage)]
        srcs = sorted({s for p in ex_programs for s in p.sources})
        gen_srcs = sorted({str(gen / "genfiles" / (_stem(i) + ".cc")) for p in ex_programs for i in p.generator_inputs})
        hdrs = list(ex.headers) + sorted({str(gen / "genfiles" / (_stem(i) + ".h")) for p in ex_programs
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


def _check_goals(goals: Goals, target: Target, unavailable: dict[str, str]) -> None:
    """Refuse unknown goals, and goals this target cannot serve, before any work."""
    served = target.goals
    for parsed in goals.requested:
        goal = parsed.goal
        if parsed.family == "file" or parsed.family == "program" and goal.startswith("gen"):
            continue  # a file or folder of the output tree
        if parsed.family in ("program", "bin", "run", "test") and parsed.subject in unavailable \
                and goal not in goals:
            raise ConfigError(f"cannot build '{goal}': {unavailable[parsed.subject]}",
                              fix="use a TFLM tree that has this example (TFLM_ROOT=), or pick another goal")
        kind = parsed.needs
        if kind and kind not in served:
            can = sorted(g for g in goals if parse(g).family not in _UNLISTED)[:20]
            raise ConfigError(f"TARGET={target.name} cannot build '{goal}': it serves only {', '.join(served)}",
                              file=target.file, key="goals", choices=can,
                              fix="use TARGET=cortex_m_qemu or TARGET=linux to build and run programs"
                              if kind in ("run", "tests", "binaries") else "pick one of the goals above")
        if goal in goals:
            continue
        near = closest(goal, goals)
        raise ConfigError(f"unknown goal '{goal}'", fix=f"did you mean '{near}'? ('scons -h' lists the goals)" if near
                          else "run 'scons -h' for the goals of this target")


def _declare_help(build: Build, goals: Goals, targets: TargetRegistry, examples: ExampleRegistry) -> None:
    lines = ["tflm-build: build TensorFlow Lite Micro with SCons.", "", "Variables (NAME=value):"]
    for var in cfg.VARIABLES:
        current = build.config.values.get(var.name, "")
        lines.append(f"  {var.name:<22} {var.help} [default: {var.default or '-'}; now: {current or '-'}]")
    lines.append(f"  {'<NAME>_DIR':<22} a local folder for dependency <name> (see third_party/)")
    lines += ["", f"Targets: {', '.join(targets.names())}",
              f"  TARGET_ARCH for {build.target.name}: "
              f"{', '.join(build.target.allowed_arches or [build.target.arch])}",
              f"Examples: {', '.join(examples.names())}", "", "Goals:"]
    shown = [g for g in goals if parse(g).family not in _UNLISTED or g in goals.fixed]
    for goal in sorted(shown):
        lines.append(f"  {goal:<34} {goals[goal]}")
    tests = sorted(g for g in goals if parse(g).family == "test")
    if tests:
        lines.append(f"  test_<name> for {len(tests)} tests ('scons list_tests' prints them)")
    build.env.Help("\n".join(lines) + "\n", append=False)  # env.Help: no default environment to set up


def _register_summary(test_nodes: list[Any]) -> None:
    """At exit: 'N passed, N failed' for the tests requested, and exit 1 on build or test failure."""
    from SCons.Script import BUILD_TARGETS, GetBuildFailures
    import SCons.Node

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
