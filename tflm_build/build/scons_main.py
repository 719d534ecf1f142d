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
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import variables as cfg
from ..errors import ConfigError, TflmBuildError, USAGE_EXIT, closest
from ..files import write_atomic
from .factcache import FactCache
from .guards import check_gen_dir
from .configuration import CompileFlags, Configuration, resolve
from .goals import Extension, Goals, list_goal, parse
from .context import Build, ProgramSources
from .library import LibraryNodes
from .programs import Programs, cpp_define, model_aware_library, relative_to_cwd, wanted_programs
from .summary import register_summary
from .workspace import current_workspace, registries
from ..model.examples import ExampleRegistry, Program, check_app, programs_by_name
from ..model.sources import TestProgram, check_kernel_dir, load_rules, select_tests
from ..model.targets import Target, TargetRegistry
from ..resources import SOURCES, dependency_variables
from ..scons_tools import pch

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

    root = Path.cwd()  # scons -C <workspace or checkout>: where outputs and downloads go
    workspace = current_workspace(root)
    arguments = {**(workspace.arguments() if workspace else {}), **ARGUMENTS}
    variables = cfg.parse(arguments, os.environ, dependency_variables)
    targets, examples = registries(workspace, check_app(variables["APP"]) if variables["APP"] else None)
    configuration = resolve(variables, targets)
    config, target, family, kernel_dir = (configuration.variables, configuration.target, configuration.toolchain,
                                          configuration.kernel_dir)
    requested = Goals(COMMAND_LINE_TARGETS, FIXED_GOALS)
    _set_scons_options(requested)
    help_requested = bool(GetOption("help"))

    from .dependencies import resolve_dependencies
    # Before any fetch writes below the build root: against the local trees the variables name
    # (TFLM_ROOT checked first: "not a TFLM tree" is the message that helps).
    if config["TFLM_ROOT"]:
        cfg.check_tflm_root(config["TFLM_ROOT"])
    local = {("tflite_micro" if var == "TFLM_ROOT" else var[:-4].lower()): Path(value).expanduser()
             for var in dependency_variables()
             if (value := config.dep_dirs.get(var) or (config[var] if var == "TFLM_ROOT" else os.environ.get(var)))}
    check_gen_dir(str(configuration.gen_root), root, local)
    roots, third_party = resolve_dependencies(root, config, target, kernel_dir)
    tflm = roots["tflite_micro"]
    check_gen_dir(str(configuration.gen_root), root, roots)  # and not in (or above) a dependency tree
    rules = load_rules(SOURCES)
    if kernel_dir:
        check_kernel_dir(tflm, kernel_dir)

    from SCons.Script import DefaultEnvironment, Environment

    DefaultEnvironment(tools=[])  # SCons makes one for its own lookups; without tools it costs nothing

    compiles = bool({"library", "binaries"} & set(target.goals)) and not help_requested
    gen = configuration.gen
    flags = configuration.compile_flags(tflm, third_party)
    env = _environment(Environment, configuration, flags, compiles, tflm, roots)
    _invalidate_scans_on_include_change(env, gen)
    build = Build(env, config, target, tflm, gen, family, rules, configuration=configuration, flags=flags,
                  examples=examples, facts=FactCache(configuration.gen_root / ".facts.json"), roots=roots,
                  targets=targets)

    library = configuration.library(rules, tflm, third_party, kernel_dir)
    build.library, build.lib = library, LibraryNodes(env, tflm, gen, library, target.optimization)
    programs = programs_by_name(examples.all(), target.lineage, target.exclude_examples)
    tests = select_tests(rules, tflm, configuration.build_type, target.exclude_tests)
    goals = _declare_goals(build, library, programs, tests, examples, requested)
    for extension in _extensions():
        extension.declare(build, goals)
    _check_goals(goals, target, build.unavailable, targets)
    if _needs_full_library(goals):
        build.lib.full()
    pch.decide(env)  # every object is declared: which compiled headers this build uses
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
    from ..projects import goals as projects
    from ..scons_tools import compiledb, debugger, runner
    return [compiledb, projects, runner, size, flash, debugger]


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
    SetOption("implicit_cache", 1)


def _environment(Environment: Any, configuration: Configuration, flags: CompileFlags, compiles: bool,
                 tflm: Path, roots: Mapping[str, Path]) -> Any:
    from ..scons_tools import cache, compiledb, exactsig, genfiles, inflight, output, pch, reproducible, runner, \
        toolchain, tool

    config, gen = configuration.variables, configuration.gen
    # The tools we use, not "default": probing every compiler SCons knows costs a tenth of a second.
    # Ours read their settings from the TFLM_* construction variables, set before any tool runs.
    c_tools = ["clang", "clangxx"] if configuration.toolchain == "clang" else ["gcc", "g++"]
    ours = [toolchain] if compiles else []
    # exactsig: every decision from contents; inflight: a killed build's outputs are never trusted;
    # reproducible (after output, whose compile commands it extends): no path in any output.
    # pch after cache (it reads the launcher) and reproducible (its header compiles take the prefix maps too).
    ours += [genfiles, runner, output, reproducible, cache, pch, compiledb, exactsig, inflight]
    gen.mkdir(parents=True, exist_ok=True)  # before the tools: exactsig and inflight keep their state there
    env = Environment(ENV=_tool_env(), tools=[*c_tools, "gnulink", "ar", "gas", *map(tool, ours)],
                      TFLM_TARGET=configuration.target, TFLM_TOOLCHAIN=configuration.toolchain,
                      TFLM_TOOLCHAIN_ROOT=config["TOOLCHAIN_ROOT"], TFLM_VERBOSE=config.flag("V"),
                      TFLM_GEN=str(gen), TFLM_GEN_ROOT=str(configuration.gen_root), TFLM_ROOTS=dict(roots),
                      TFLM_TREE=str(tflm), TFLM_CACHE_DIR=config["CACHE_DIR"],
                      TFLM_COMPILER_LAUNCHER=config["COMPILER_LAUNCHER"], TFLM_PCH=config.pch())
    # One signature database per configuration: a no-op reads and rewrites only its own
    # entries, and builds of two configurations can run at the same time.
    env.SConsignFile(str(gen.absolute() / ".sconsign"))  # absolute: beside the outputs, not the SConstruct
    include = [relative_to_cwd(p) for p in flags.include_dirs] + [gen / "genfiles"]
    env.Replace(
        CCFLAGS=list(flags.common),
        CFLAGS=list(flags.c),
        CXXFLAGS=list(flags.cxx),
        ASFLAGS=[],
        CPPDEFINES=[cpp_define(d) for d in flags.defines],
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


def _declare_goals(build: Build, library: Any, programs: Mapping[str, Program], tests: list[TestProgram],
                   examples: ExampleRegistry, goals: Goals) -> Goals:
    """Declare every goal of the programs, tests and lists into ``goals``."""
    env, target, gen, tflm = build.env, build.target, build.gen, build.tflm
    makers = build.makers = Programs(build)
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
    wanted = wanted_programs(goals)

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
            prog_lib = model_aware_library(build, library, name, base, sources, inputs, goals)
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
    register_summary(test_nodes)
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


def _check_goals(goals: Goals, target: Target, unavailable: dict[str, str], targets: TargetRegistry) -> None:
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
            others = targets.suggest(lambda t: kind in t.goals)
            raise ConfigError(f"TARGET={target.name} cannot build '{goal}': it serves only {', '.join(served)}",
                              file=target.file, key="goals", choices=can,
                              fix=f"use {others} for {kind}, or pick one of the goals above" if others
                              else "pick one of the goals above")
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


