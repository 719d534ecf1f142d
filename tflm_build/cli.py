"""The ``tflm-build`` command: one front door over the SCons build and the fetcher.

Build commands run ``scons -C <repo>`` with the same NAME=value variables, so a
CI script and a laptop type the same thing.  Exit status: 0 ok, 1 a build or
test failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from .errors import TflmBuildError, USAGE_EXIT

REPO = Path(__file__).resolve().parent.parent


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


def scons(args: Sequence[str], verbose: bool = False) -> int:
    """Run the SCons build of this repository; returns its exit status (1 failure, 2 usage)."""
    exe = shutil.which("scons")
    command = [exe] if exe else [sys.executable, "-m", "SCons"]
    command += ["-C", str(REPO), "-Q", *args]
    if verbose:
        command.append("V=1")
    return subprocess.call(command)


def _build(ns: argparse.Namespace, prefix: str = "") -> int:
    goals, variables = _split(ns.items)
    goals = [prefix + g if prefix and not g.startswith(prefix) else g for g in goals]
    if ns.command == "test" and not goals:
        goals = ["test"]
    return scons([*goals, *(f"{k}={v}" for k, v in variables.items())], ns.verbose)


def _variables(items: Sequence[str]) -> dict[str, str]:
    return _split(items)[1]


def _fetch_context(items: Sequence[str]):
    from . import config as cfg
    from .deps import needed
    from .deps_glue import make_fetcher
    from .targets import TargetRegistry

    variables = _variables(items)
    config = cfg.parse(variables, os.environ, lambda: {f"{p.stem.upper()}_DIR" for p in (REPO / "third_party").glob("*.yaml")} | {"TFLM_ROOT"})
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

    names, _ = _split(ns.items)
    deps, fetcher, default = _fetch_context(ns.items)
    return deps_command(fetcher, names or sorted(deps))


def _vendor(ns: argparse.Namespace) -> int:
    from .depcmds import vendor_command

    names, _ = _split(ns.items)
    deps, fetcher, default = _fetch_context(ns.items)
    return vendor_command(Path(ns.dir), names or default, deps, fetcher)


def _targets(ns: argparse.Namespace) -> int:
    from .targets import TargetRegistry

    registry = TargetRegistry(REPO / "targets")
    print(f"{'target':<20} {'arches':<44} {'runner':<10} {'goals':<34} projects")
    for name in registry.names():
        t = registry.load(name, None)
        arches = ", ".join((t.get("arch") or {}).get("allowed") or [t.arch])
        runner = (t.get("runner") or {}).get("kind", "none")
        tool = (t.get("runner") or {}).get("tool")
        if tool and not shutil.which(tool):
            runner += " (missing)"
        print(f"{name:<20} {arches[:43]:<44} {runner:<10} {', '.join(t.goals):<34} {', '.join(t.get('project_kinds', []))}")
    return 0


def _examples(ns: argparse.Namespace) -> int:
    from .examples import ExampleRegistry

    registry = ExampleRegistry(REPO / "examples")
    for example in registry.all():
        programs = ", ".join(example.data["programs"])
        print(f"{example.name:<20} {example.data['description']}\n{'':<20} programs: {programs}")
    return 0


def _clean(ns: argparse.Namespace) -> int:
    goals, variables = _split(ns.items)
    return scons(["-c", *(goals or ["."]), *(f"{k}={v}" for k, v in variables.items())])


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tflm-build", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True, metavar="command")
    specs = [
        ("build", "build goals (default: microlite), e.g. `build hello_world_bin TARGET=linux`", _build),
        ("run", "build and run programs, e.g. `run hello_world`", lambda ns: _build(ns, "run_")),
        ("test", "build and run unit tests (all, or the named ones)", lambda ns: _build(ns, "test_")),
        ("clean", "remove what the goals built (default: everything of the configuration)", _clean),
        ("fetch", "fetch dependencies (default: those the TARGET / OPTIMIZED_KERNEL_DIR need)", _fetch),
        ("deps", "table of dependencies: version, where from, verified, path", _deps),
        ("targets", "table of targets: arches, runner, goals, project kinds", _targets),
        ("examples", "the examples and their programs", _examples),
    ]
    for name, help_text, func in specs:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("items", nargs="*", metavar="GOAL|NAME|VAR=value")
        p.add_argument("-v", "--verbose", action="store_true", help="print full command lines")
        p.set_defaults(func=func)
    vendor = sub.add_parser("vendor", help="write every archive the configuration needs into DIR, as a mirror",
                            description="Write every archive the configuration needs into DIR, laid out as a "
                                        "mirror for TFLM_BUILD_MIRROR on air-gapped machines.")
    vendor.add_argument("dir")
    vendor.add_argument("items", nargs="*", metavar="NAME|VAR=value")
    vendor.set_defaults(func=_vendor)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    try:
        return int(ns.func(ns))
    except TflmBuildError as err:
        sys.stderr.write(err.render() + "\n")
        return USAGE_EXIT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
