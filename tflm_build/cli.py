"""The ``tflm-build`` command: one front door over the SCons build and the fetcher.

Build commands run ``scons -C <repo>`` with the same NAME=value variables (and
goal names), so a CI script and a laptop type the same thing; options are
spellings of variables (``--verbose`` is V=1, ``--cache-dir`` CACHE_DIR=,
``--launcher`` COMPILER_LAUNCHER=).  Exit status: 0 ok, 1 a build or test
failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from .errors import TflmBuildError, USAGE_EXIT

REPO = Path(__file__).resolve().parent.parent
# Variables naming a file or folder: made absolute here, since scons runs from the repository.
_PATH_VARIABLES = {"APP", "TFLM_ROOT", "TOOLCHAIN_ROOT", "CACHE_DIR"}


def _split(items: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    goals: list[str] = []
    variables: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if sep and name.isupper():
            variables[name] = value
        else:
            goals.append(item)
    return goals, variables


def _absolute(variables: dict[str, str]) -> dict[str, str]:
    """Paths given relative to where the user stands, as scons (run from the repository) must see them."""
    return {k: str(Path(v).expanduser().resolve()) if v and (k in _PATH_VARIABLES or k.endswith("_DIR"))
            and k != "GEN_DIR" else v for k, v in variables.items()}


def scons_argv(args: Sequence[str]) -> list[str]:
    """The command line running the SCons build of this repository with ``args``."""
    exe = shutil.which("scons")
    return [*([exe] if exe else [sys.executable, "-m", "SCons"]), "-C", str(REPO), "-Q", *args]


def scons(args: Sequence[str]) -> int:
    """Run the SCons build; returns its exit status (1 failure, 2 usage)."""
    return subprocess.call(scons_argv(args))


def _options(ns: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """scons options and variables from the common options (-j, -k, --verbose, --cache-dir, --launcher)."""
    options = [f"-j{ns.jobs}"] if ns.jobs else []
    if ns.keep_going:
        options.append("-k")
    variables = {"V": "1"} if ns.verbose else {}
    if ns.cache_dir:
        variables["CACHE_DIR"] = ns.cache_dir
    if ns.launcher:
        variables["COMPILER_LAUNCHER"] = ns.launcher
    return options, variables


def _run_goals(ns: argparse.Namespace, goals: Sequence[str], extra: Sequence[str] = ()) -> int:
    named, variables = _split(extra)
    options, common = _options(ns)
    variables = _absolute({**common, **variables})
    return scons([*options, *goals, *named, *(f"{k}={v}" for k, v in variables.items())])


def _build(ns: argparse.Namespace) -> int:
    return _run_goals(ns, [], ns.items)


def _prefixed(prefix: str, default: str | None) -> Callable[[argparse.Namespace], int]:
    """run / test: goal names get their prefix (``run hello_world`` is ``run_hello_world``)."""

    def command(ns: argparse.Namespace) -> int:
        goals, variables = _split(ns.items)
        goals = [g if g.startswith(prefix) else prefix + g for g in goals] or ([default] if default else [])
        return _run_goals(ns, goals, [f"{k}={v}" for k, v in variables.items()])

    return command


def _generate(ns: argparse.Namespace) -> int:
    return _run_goals(ns, [f"generate_{ns.example}_{ns.kind}_project"], ns.items)


def _size(ns: argparse.Namespace) -> int:
    status = _run_goals(ns, [f"size_{ns.program}"], ns.items)
    if status == 0 and ns.chart:
        from .size_chart import chart_command

        return chart_command(ns.program, Path(ns.chart).resolve(), _absolute(_split(ns.items)[1]))
    return status


def _clean(ns: argparse.Namespace) -> int:
    goals, variables = _split(ns.items)
    return scons(["-c", *(goals or ["."]), *(f"{k}={v}" for k, v in _absolute(variables).items())])


def _config(variables: dict[str, str]):
    from . import config as cfg

    return cfg.parse(_absolute(variables), os.environ, lambda: {f"{p.stem.upper()}_DIR" for p in (REPO / "third_party").glob("*.yaml")} | {"TFLM_ROOT"})


def _fetch_context(items: Sequence[str]):
    from .deps import needed
    from .deps_glue import make_fetcher
    from .targets import TargetRegistry

    config = _config(_split(items)[1])
    target = TargetRegistry(REPO / "targets").load(config["TARGET"], config["TARGET_ARCH"] or None)
    kernel_dir = config["OPTIMIZED_KERNEL_DIR"] or (target.get("optimized_kernel_dir") or {}).get("default")
    deps, fetcher = make_fetcher(REPO, config)
    return deps, fetcher, needed(deps, target.lineage, kernel_dir or None)


def _fetch(ns: argparse.Namespace) -> int:
    from .depcmds import fetch_command

    names, _ = _split(ns.items)
    deps, fetcher, default = _fetch_context(ns.items)
    return fetch_command(names, fetcher, deps, default)


def _deps(ns: argparse.Namespace) -> int:
    from .depcmds import deps_command

    names, variables = _split(ns.items)
    if names[:1] == ["pin"]:  # deps pin <name> <version> [REPACKED=1]
        from .pin_command import pin_command

        repacked = variables.pop("REPACKED", "") == "1"
        return pin_command(REPO, names[1:], lambda: _config(variables), repacked)
    deps, fetcher, default = _fetch_context(ns.items)
    return deps_command(fetcher, names or sorted(deps))


def _vendor(ns: argparse.Namespace) -> int:
    from .depcmds import vendor_command

    names, _ = _split(ns.items)
    deps, fetcher, default = _fetch_context(ns.items)
    return vendor_command(Path(ns.dir), names or default, deps, fetcher)


def _targets(ns: argparse.Namespace) -> int:
    from .doctor import target_rows

    rows = [("TARGET", "ARCHES", "RUNNER", "PROJECTS", "INSTALLED")] + target_rows(REPO)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    return 0


def _examples(ns: argparse.Namespace) -> int:
    from .examples import ExampleRegistry

    registry = ExampleRegistry(REPO / "examples")
    for example in registry.all():
        programs = ", ".join(example.data["programs"])
        print(f"{example.name:<20} {example.data['description']}\n{'':<20} programs: {programs}")
    return 0


def _ci(ns: argparse.Namespace) -> int:
    from . import ci

    matrix = Path(ns.matrix)
    if ns.emit:
        path = ci.emit(ns.emit, matrix, ns.shards, Path(ns.output) if ns.output else None)
        print(f"tflm-build ci: wrote {path} ({ns.shards} shard{'s' if ns.shards > 1 else ''})")
        return 0
    _, variables = _split(ns.items)
    if ns.cache_dir:
        variables["CACHE_DIR"] = ns.cache_dir
    if ns.launcher:
        variables["COMPILER_LAUNCHER"] = ns.launcher
    return ci.run(matrix, Path(ns.out), ns.shard, ns.parallel, _absolute(variables), scons_argv)


def _doctor(ns: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor(REPO, print)


def _common_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="print full command lines (V=1)")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="parallel jobs (default: the cores, or distcc's slots)")
    p.add_argument("-k", "--keep-going", action="store_true", help="go on after a failed step")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="SCons CacheDir shared across checkouts (CACHE_DIR=; default $TFLM_BUILD_CACHE_DIR)")
    p.add_argument("--launcher", metavar="TOOL", help="ccache | sccache | distcc | icecc (COMPILER_LAUNCHER=)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tflm-build", description="Build TensorFlow Lite Micro with SCons: "
                                  "one front door over the build, the fetcher and CI.",
                                  epilog="Exit status: 0 ok, 1 a build or test failed, 2 bad input.")
    sub = top.add_subparsers(dest="command", required=True, metavar="command")
    builds = [
        ("build", "build goals (default: microlite), e.g. `build hello_world_bin TARGET=cortex_m_qemu`", _build),
        ("run", "build and run programs, e.g. `run hello_world` (scons run_hello_world)", _prefixed("run_", None)),
        ("test", "build and run unit tests: all (scons test), or the named ones (test_<name>)",
         _prefixed("test_", "test")),
    ]
    for name, help_text, func in builds:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("items", nargs="*", metavar="GOAL|VAR=value")
        _common_build_options(p)
        p.set_defaults(func=func)
    p = sub.add_parser("generate", help="write a standalone project (scons generate_<example>_<kind>_project)",
                       description="Write a standalone project for an example into gen/<config>/prj/<example>/<kind>/.")
    p.add_argument("example")
    p.add_argument("--kind", default="make", help="project kind: a folder of project_templates/ (default: make)")
    p.add_argument("items", nargs="*", metavar="VAR=value")
    _common_build_options(p)
    p.set_defaults(func=_generate)
    p = sub.add_parser("size", help="flash and RAM of a program (scons size_<program>), optionally as a chart",
                       description="Build a program and report its flash and RAM per object and kernel.")
    p.add_argument("program")
    p.add_argument("--chart", metavar="FILE.svg|FILE.html", help="also write a chart of the sizes")
    p.add_argument("items", nargs="*", metavar="VAR=value")
    _common_build_options(p)
    p.set_defaults(func=_size)
    p = sub.add_parser("clean", help="remove what the goals built (default: everything of the configuration)",
                       description="Remove what the goals built (scons -c); default: everything of the configuration.")
    p.add_argument("items", nargs="*", metavar="GOAL|VAR=value")
    p.set_defaults(func=_clean)
    for name, help_text, func in (
            ("fetch", "fetch dependencies (default: those the TARGET / OPTIMIZED_KERNEL_DIR need)", _fetch),
            ("deps", "table of dependencies: version, where from, verified, path; `deps pin NAME VERSION` moves "
                     "a pin (fetch, hash, rewrite third_party/NAME.yaml; for tflite_micro, review the new tree)",
             _deps)):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("items", nargs="*", metavar="NAME|VAR=value")
        p.set_defaults(func=func)
    p = sub.add_parser("vendor", help="write every archive the configuration needs into DIR, as a mirror",
                       description="Write every archive the configuration needs into DIR, laid out as a "
                                   "mirror for TFLM_BUILD_MIRROR on air-gapped machines.")
    p.add_argument("dir")
    p.add_argument("items", nargs="*", metavar="NAME|VAR=value")
    p.set_defaults(func=_vendor)
    for name, help_text, func in (
            ("targets", "table of targets: arches, runner, project kinds, what is installed", _targets),
            ("examples", "the examples and their programs", _examples),
            ("doctor", "toolchains and versions found, QEMU, launchers, caches, and what is missing", _doctor)):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
    p = sub.add_parser("ci", help="run a build matrix (JUnit, Markdown, JSON reports) or write a CI workflow",
                       description="Run the cells of a matrix file (targets x arches x examples x build types x "
                                   "kernel dirs, with actions), in parallel, going on after failures; or, with "
                                   "--emit, write a GitHub / GitLab workflow calling this command per shard.")
    p.add_argument("--matrix", default="ci.yaml", help="the matrix file (default: ci.yaml)")
    p.add_argument("--shard", default="1/1", metavar="i/n", help="run every n-th cell, starting with the i-th")
    p.add_argument("--out", default="ci-out", help="reports, logs and per-cell GEN_DIRs (default: ci-out)")
    p.add_argument("--parallel", type=int, metavar="N", help="cells at once (default: the cores)")
    p.add_argument("--cache-dir", metavar="DIR", help="CACHE_DIR for every cell")
    p.add_argument("--launcher", metavar="TOOL", help="COMPILER_LAUNCHER for every cell")
    p.add_argument("--emit", metavar="github|gitlab", help="write the workflow file instead of running")
    p.add_argument("--shards", type=int, default=1, help="with --emit: runners to split the matrix over")
    p.add_argument("-o", "--output", help="with --emit: the file to write (default: the service's usual path)")
    p.add_argument("items", nargs="*", metavar="VAR=value", help="variables for every cell")
    p.set_defaults(func=_ci)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    ns, extra = top.parse_known_args(argv)
    # goals and VAR=value may follow options too (`generate hello_world --kind make TARGET=x`)
    if extra and (not hasattr(ns, "items") or any(item.startswith("-") for item in extra)):
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        ns.items = [*ns.items, *extra]
    try:
        return int(ns.func(ns))
    except TflmBuildError as err:
        sys.stderr.write(err.render() + "\n")
        return USAGE_EXIT
    except KeyboardInterrupt:
        return 130


__all__ = ["main", "parser", "scons", "scons_argv"]

if __name__ == "__main__":
    sys.exit(main())
