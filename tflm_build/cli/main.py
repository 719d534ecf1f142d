# PYTHON_ARGCOMPLETE_OK
"""The ``tflm-build`` command: one front door over the SCons build and the fetcher.

Build commands run ``scons -C <workspace or checkout>`` with the same NAME=value variables
(and goal names), so a CI script and a laptop type the same thing; options are
spellings of variables (``--verbose`` is V=1, ``--cache-dir`` CACHE_DIR=,
``--launcher`` COMPILER_LAUNCHER=).  Exit status: 0 ok, 1 a build or test
failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ConfigError, TflmBuildError, USAGE_EXIT, user_path
from ..resources import build_root, dependency_variables
from .scons import scons, scons_argv

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
    return {k: str(user_path(v, k).resolve()) if v and (k in _PATH_VARIABLES or k.endswith("_DIR"))
            and k != "GEN_DIR" else v for k, v in variables.items()}


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
    from .size_chart import chart_command, size_json

    variables = _absolute(_split(ns.items)[1])
    if ns.json:  # the program built quietly, then its sizes as data
        status = subprocess.call(scons_argv([ns.program, *(f"{k}={v}" for k, v in variables.items())]),
                                 stdout=subprocess.DEVNULL)
        return status or size_json(ns.program, variables)
    status = _run_goals(ns, [f"size_{ns.program}"], ns.items)
    if status == 0 and ns.chart:
        return chart_command(ns.program, Path(ns.chart).resolve(), variables)
    return status


def _configuration(variables: dict[str, str]):
    """The Configuration the build would resolve here (workspace defaults, then the command line)."""
    from ..build import variables as cfg
    from ..build.configuration import resolve
    from ..build.workspace import current_workspace, registries

    workspace = current_workspace(Path.cwd())
    merged = {**(workspace.arguments() if workspace else {}), **_absolute(variables)}
    return resolve(cfg.parse(merged, os.environ, dependency_variables), registries(workspace)[0])


def _clean(ns: argparse.Namespace) -> int:
    """Goals: scons -c; none: the configuration's gen folder; --all: every configuration (and downloads)."""
    goals, variables = _split(ns.items)
    if goals and (ns.all or ns.downloads):
        raise ConfigError("clean: goals and --all / --downloads do not mix", key="clean",
                          fix="clean goals with `tflm-build clean GOAL...`, or everything with `clean --all`")
    if goals:
        return scons(["-c", *goals, *(f"{k}={v}" for k, v in _absolute(variables).items())])
    if ns.downloads and not ns.all:
        raise ConfigError("clean --downloads goes with --all", key="clean", fix="write `tflm-build clean --all "
                          "--downloads`")
    root = build_root(Path.cwd())
    configuration = _configuration(variables)
    gen = configuration.gen_root if configuration.gen_root.is_absolute() else root / configuration.gen_root
    removed = [gen] if ns.all else [gen / configuration.gen.name]
    if ns.downloads:
        removed.append(root / "third_party" / "downloads")
    for folder in removed:
        if folder.is_dir():
            shutil.rmtree(folder)
            print(f"tflm-build clean: removed {folder}")
        if folder.parent != root and folder.parent.is_dir() and not any(folder.parent.iterdir()):
            folder.parent.rmdir()  # third_party/ of a workspace held only the downloads
    return 0


def _fetch_context(items: Sequence[str]):
    from ..build.dependencies import make_fetcher
    from ..fetch.pins import needed

    configuration = _configuration(_split(items)[1])
    deps, fetcher = make_fetcher(build_root(Path.cwd()), configuration.variables)
    return deps, fetcher, needed(deps, configuration.target.lineage, configuration.kernel_dir)


def _fetch(ns: argparse.Namespace) -> int:
    from .deps import fetch_command

    names, _ = _split(ns.items)
    deps, fetcher, default = _fetch_context(ns.items)
    return fetch_command(names, fetcher, deps, default)


def _deps(ns: argparse.Namespace) -> int:
    from .deps import deps_command

    names, variables = _split(ns.items)
    if names[:1] == ["pin"]:  # deps pin <name> <version> [REPACKED=1]
        from ..resources import REPO
        from .pin import pin_command

        repacked = variables.pop("REPACKED", "") == "1"
        return pin_command(REPO, names[1:], lambda: _configuration(variables).variables, repacked)
    deps, fetcher, default = _fetch_context(ns.items)
    return deps_command(fetcher, names or sorted(deps), as_json=ns.json)


def _vendor(ns: argparse.Namespace) -> int:
    from .deps import vendor_command

    names, _ = _split(ns.items)
    deps, fetcher, default = _fetch_context(ns.items)
    return vendor_command(Path(ns.dir), names or default, deps, fetcher)


def _registries():
    from ..build.workspace import current_workspace, registries

    return registries(current_workspace(Path.cwd()))


def _targets(ns: argparse.Namespace) -> int:
    from .doctor import render_target_rows, target_rows

    rows = target_rows(_registries()[0])
    print(json.dumps(rows, indent=1) if ns.json else "\n".join(render_target_rows(rows)))
    return 0


def _examples(ns: argparse.Namespace) -> int:
    examples = _registries()[1].all()
    if ns.json:
        print(json.dumps([{"name": e.name, "description": e.description, "file": str(e.file),
                           "programs": list(e.program_specs)} for e in examples], indent=1))
        return 0
    for example in examples:
        programs = ", ".join(example.program_specs)
        print(f"{example.name:<20} {example.description}\n{'':<20} programs: {programs}")
    return 0


def _init(ns: argparse.Namespace) -> int:
    from .init import init_command

    return init_command(Path(ns.folder), ns.example)


def _ci(ns: argparse.Namespace) -> int:
    from ..ci import emit, run

    matrix = Path(ns.matrix)
    if ns.emit:
        path = emit.emit(ns.emit, matrix, ns.shards, Path(ns.output) if ns.output else None,
                         ns.install or f"tflm-build=={_version()}")
        print(f"tflm-build ci: wrote {path} ({ns.shards} shard{'s' if ns.shards > 1 else ''})")
        return 0
    _, variables = _split(ns.items)
    if ns.cache_dir:
        variables["CACHE_DIR"] = ns.cache_dir
    if ns.launcher:
        variables["COMPILER_LAUNCHER"] = ns.launcher
    return run.run(matrix, Path(ns.out), ns.shard, ns.parallel, _absolute(variables), scons_argv)


def _doctor(ns: argparse.Namespace) -> int:
    from ..resources import find_workspace
    from .doctor import doctor

    return doctor(_registries()[0], find_workspace(Path.cwd()), build_root(Path.cwd()), ns.json, print)


# ---- shell completion (argcomplete: `eval "$(register-python-argcomplete tflm-build)"`) -------------


def _autocomplete(top: argparse.ArgumentParser) -> None:
    """Answer a shell's completion request and exit, when argcomplete is installed and asked."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(top)


def _quiet_registries():
    try:
        return _registries()
    except TflmBuildError:
        return None


def _complete_examples(prefix: str, **_: object) -> list[str]:
    found = _quiet_registries()
    return [n for n in found[1].names() if n.startswith(prefix)] if found else []


def _complete_programs(prefix: str, **_: object) -> list[str]:
    found = _quiet_registries()
    if not found:
        return []
    names = {p for e in found[1].all() for p in e.program_specs}
    return sorted(n for n in names if n.startswith(prefix))


def _complete_items(command: str):
    """Goals (programs with the command's prefix), TARGET=, TARGET_ARCH= and the other variables."""
    def complete(prefix: str, parsed_args: argparse.Namespace | None = None, **_: object) -> list[str]:
        from ..build.variables import VARIABLES

        found = _quiet_registries()
        if "=" in prefix:
            name, _, value = prefix.partition("=")
            if name == "TARGET" and found:
                return [f"TARGET={n}" for n in found[0].names() if n.startswith(value)]
            if name == "TARGET_ARCH" and found:
                target = dict(_split(getattr(parsed_args, "items", []) or [])[1]).get("TARGET")
                try:
                    arches = found[0].load(target, None).allowed_arches if target else ()
                except TflmBuildError:
                    arches = ()
                return [f"TARGET_ARCH={a}" for a in arches if a.startswith(value)]
            return []
        programs = _complete_programs("") if found else []
        goals = {"build": ["microlite", "build", *programs, *(f"{p}_bin" for p in programs)],
                 "run": [p for p in programs if not p.endswith("_test")],
                 "test": [p for p in programs if p.endswith("_test")]}[command]
        return [g for g in goals + [f"{v.name}=" for v in VARIABLES] if g.startswith(prefix)]

    return complete


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
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="command")
    builds = [
        ("build", "build goals (default: microlite), e.g. `build hello_world_bin TARGET=cortex_m_qemu`", _build),
        ("run", "build and run programs, e.g. `run hello_world` (scons run_hello_world)", _prefixed("run_", None)),
        ("test", "build and run unit tests: all (scons test), or the named ones (test_<name>)",
         _prefixed("test_", "test")),
    ]
    for name, help_text, func in builds:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("items", nargs="*", metavar="GOAL|VAR=value").completer = \
            _complete_items(name)  # type: ignore[attr-defined]
        _common_build_options(p)
        p.set_defaults(func=func)
    p = sub.add_parser("generate", help="write a standalone project (scons generate_<example>_<kind>_project)",
                       description="Write a standalone project for an example into gen/<config>/prj/<example>/<kind>/.")
    p.add_argument("example").completer = _complete_examples  # type: ignore[attr-defined]
    p.add_argument("--kind", default="make", help="project kind: a folder of project_templates/ (default: make)")
    p.add_argument("items", nargs="*", metavar="VAR=value")
    _common_build_options(p)
    p.set_defaults(func=_generate)
    p = sub.add_parser("size", help="flash and RAM of a program (scons size_<program>), optionally as a chart",
                       description="Build a program and report its flash and RAM per object and kernel.")
    p.add_argument("program").completer = _complete_programs  # type: ignore[attr-defined]
    p.add_argument("--chart", metavar="FILE.svg|FILE.html", help="also write a chart of the sizes")
    p.add_argument("--json", action="store_true", help="the sizes as JSON (text, data, bss and each object's)")
    p.add_argument("items", nargs="*", metavar="VAR=value")
    _common_build_options(p)
    p.set_defaults(func=_size)
    p = sub.add_parser("clean", help="remove what the goals built (default: the configuration's gen folder)",
                       description="Remove what the goals built (scons -c GOAL...); without goals, the "
                                   "configuration's folder gen/<config>/; --all: every configuration's.")
    p.add_argument("items", nargs="*", metavar="GOAL|VAR=value")
    p.add_argument("--all", action="store_true", help="every configuration: the whole GEN_DIR")
    p.add_argument("--downloads", action="store_true", help="with --all: also the extracted third_party/downloads/")
    p.set_defaults(func=_clean)
    p = sub.add_parser("init", help="make a workspace with an app copied from an example",
                       description="Make FOLDER (new or empty) a workspace: tflm-build.yaml, an app copied from "
                                   "an example (its sources, models, app YAML), a targets/ folder for your boards.")
    p.add_argument("folder")
    p.add_argument("--example", default="hello_world", help="the example to copy (default: hello_world)")
    p.set_defaults(func=_init)
    for name, help_text, func in (
            ("fetch", "fetch dependencies (default: those the TARGET / OPTIMIZED_KERNEL_DIR need)", _fetch),
            ("deps", "table of dependencies: version, where from, verified, path; `deps pin NAME VERSION` moves "
                     "a pin (fetch, hash, rewrite third_party/NAME.yaml; for tflite_micro, review the new tree)",
             _deps)):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("items", nargs="*", metavar="NAME|VAR=value")
        if name == "deps":
            p.add_argument("--json", action="store_true", help="the table as JSON")
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
        p.add_argument("--json", action="store_true", help="the same as JSON")
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
    p.add_argument("--install", metavar="SPEC", help="with --emit: what the runners pip-install (default: "
                                                     "tflm-build==<this version>; or a wheel URL, git+https://...)")
    p.add_argument("items", nargs="*", metavar="VAR=value", help="variables for every cell")
    p.set_defaults(func=_ci)
    return top


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tflm-build")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    if argv is None:
        _autocomplete(top)
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
    except BrokenPipeError:  # `tflm-build doctor | head`: the reader left; stop quietly, as a tool killed by SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit must not fail again
        return 141


__all__ = ["main", "parser", "scons", "scons_argv"]
