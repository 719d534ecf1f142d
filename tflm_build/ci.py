"""``tflm-build ci``: run a build matrix on any CI service, or write the service's workflow file.

A matrix file (``ci.yaml``) lists targets x arches x examples x build types x
kernel dirs and the actions each cell runs (build, run, test, generate + build
the project, size).  Every cell is one configuration of the SCons build with its
own GEN_DIR (its facts cache and projects stay its own, so cells can run at once);
cells run in parallel where cores allow, a failed cell does not stop the
others, and the run writes JUnit XML (a testcase per cell and per unit test), a
Markdown summary (for $GITHUB_STEP_SUMMARY) and a JSON summary.  ``--shard i/n``
runs every n-th cell, so n CI runners split one matrix without coordination.

The CI service only starts runners: ``--emit github|gitlab`` writes a workflow
that installs the tool and calls ``tflm-build ci --shard i/n`` on each.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import guards
from .config import BUILD_TYPES
from .errors import ConfigError, unknown_choice
from .examples import ExampleRegistry
from .schema import Field, Schema, str_list, validate
from .targets import Target, TargetRegistry
from .yamlio import LocDict, load_yaml

REPO = Path(__file__).resolve().parent.parent
ACTIONS = ("build", "run", "test", "generate", "size")
REFERENCE = "reference"  # kernel_dirs entry meaning OPTIMIZED_KERNEL_DIR unset

SCHEMA: Schema = {
    "targets": Field(dict, required=True, values=Field(list, items=str),
                     doc="target -> its arches ([] for the target's default arch)"),
    "examples": str_list("examples to build in every cell", required=True),
    "build_types": str_list("BUILD_TYPE values (default: [default])"),
    "kernel_dirs": str_list(f"OPTIMIZED_KERNEL_DIR values; '{REFERENCE}' for none (default: [{REFERENCE}])"),
    "actions": Field(list, items=Field(str, choices=ACTIONS), doc="what each cell does (default: [build, test])"),
    "project_kinds": str_list("project kinds for 'generate' (default: make)"),
    "variables": Field(dict, values=str, doc="NAME: value passed to every cell"),
    "exclude": Field(list, items=Field(dict, schema={
        "target": Field(str), "arch": Field(str), "example": Field(str),
        "build_type": Field(str), "kernel_dir": Field(str),
    }), doc="cells to leave out: every key given must match"),
}


@dataclass(frozen=True)
class Cell:
    """One configuration of the matrix and what to do with it."""

    target: str
    arch: str
    example: str
    build_type: str
    kernel_dir: str  # "" for the reference kernels
    actions: tuple[str, ...]
    kinds: tuple[str, ...]

    @property
    def id(self) -> str:
        return "-".join(p for p in (self.target, self.arch, self.example, self.build_type, self.kernel_dir) if p)

    def variables(self) -> dict[str, str]:
        values = {"TARGET": self.target, "TARGET_ARCH": self.arch, "BUILD_TYPE": self.build_type}
        if self.kernel_dir:
            values["OPTIMIZED_KERNEL_DIR"] = self.kernel_dir
        return values


@dataclass
class Step:
    """One scons invocation of a cell (an action may take several, e.g. generate then build the project)."""

    action: str
    argv: list[str]
    project_kind: str = ""  # set for building a generated project: it runs in the project's folder


@dataclass
class UnitTest:
    name: str
    passed: bool
    seconds: float
    message: str = ""
    output: str = ""


@dataclass
class CellResult:
    cell: Cell
    status: str = "skipped"  # passed | failed | skipped
    seconds: float = 0.0
    failed_action: str = ""
    message: str = ""
    log: str = ""
    tests: list[UnitTest] = field(default_factory=list)


@dataclass
class Matrix:
    file: Path
    cells: list[Cell]
    variables: dict[str, str]
    programs: dict[tuple[str, str], list[tuple[str, bool]]]  # (target, example) -> [(program, is_test)]


# ---- reading the matrix ---------------------------------------------------------------------------


def _error(data: LocDict, key: str, path: str, message: str, **kw: Any) -> ConfigError:
    return ConfigError(message, file=data.file, line=data.line_of(key), key=path, **kw)


def load_matrix(path: Path, repo: Path = REPO) -> Matrix:
    """Read and check a matrix file: every name is checked before any cell runs."""
    data = load_yaml(path)
    if data is None:
        raise ConfigError("the matrix file is empty", file=path, fix="write at least 'targets:' and 'examples:'")
    validate(data, SCHEMA)
    guards.check_cell_variables(data.get("variables") or {}, data.file)
    targets = TargetRegistry(repo / "targets")
    examples = ExampleRegistry(repo / "examples")
    actions = tuple(data.get("actions") or ("build", "test"))
    build_types = list(data.get("build_types") or ["default"])
    for build_type in build_types:
        if build_type not in BUILD_TYPES:
            raise _error(data, "build_types", "build_types", f"unknown build type '{build_type}'",
                         choices=BUILD_TYPES)
    for example in data["examples"]:
        if example not in examples.names():
            err = unknown_choice("example", example, examples.names())
            raise _error(data, "examples", "examples", err.message, choices=err.choices, fix=err.fix)
    kernel_dirs = [("" if k == REFERENCE else k) for k in data.get("kernel_dirs") or [REFERENCE]]
    excludes = list(data.get("exclude") or [])
    cells: list[Cell] = []
    programs: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    target_map: LocDict = data["targets"]
    for name, arches in target_map.items():
        if name not in targets.names():
            err = unknown_choice("target", name, targets.names())
            raise _error(target_map, name, f"targets.{name}", err.message, choices=err.choices, fix=err.fix)
        base = targets.load(name, None)
        allowed = (base.get("arch") or {}).get("allowed") or [base.arch]
        for arch in arches:
            if arch not in allowed:
                raise _error(target_map, name, f"targets.{name}", f"TARGET={name} has no arch '{arch}'",
                             choices=allowed)
        _check_actions(data, base, actions)
        kinds = tuple(data.get("project_kinds") or (base.get("project_kinds") or ["make"])[:1])
        if "generate" in actions:
            for kind in kinds:
                if kind not in (base.get("project_kinds") or []):
                    raise _error(data, "project_kinds", "project_kinds", f"TARGET={name} has no project kind '{kind}'",
                                 choices=base.get("project_kinds") or [])
        okd = base.get("optimized_kernel_dir") or {}
        for kernel_dir in kernel_dirs:
            if kernel_dir and okd.get("allowed") is not None and kernel_dir not in okd["allowed"]:
                raise _error(data, "kernel_dirs", "kernel_dirs", f"TARGET={name} does not allow kernel dir "
                             f"'{kernel_dir}'", choices=[REFERENCE, *okd["allowed"]])
        for arch in arches or [base.arch]:
            target = targets.load(name, arch)
            for example in data["examples"]:
                ex = examples.get(example)
                if ex.excluded_on(target.lineage, target.get("exclude_examples", {})):
                    continue
                programs[(name, example)] = [(p.name, p.is_test) for p in ex.programs(target.lineage)
                                             if "binaries" in target.goals]  # library-only: none
                for build_type in build_types:
                    for kernel_dir in kernel_dirs:
                        fields = {"target": name, "arch": arch, "example": example, "build_type": build_type,
                                  "kernel_dir": kernel_dir or REFERENCE}
                        if any(all(fields.get(k) == v for k, v in ex_rule.items()) for ex_rule in excludes):
                            continue
                        cells.append(Cell(name, arch, example, build_type, kernel_dir or "", actions, kinds))
    if not cells:
        raise ConfigError("the matrix has no cells (every combination is excluded)", file=path,
                          fix="check 'exclude:' and the examples' target exclusions")
    return Matrix(path, cells, dict(data.get("variables") or {}), programs)


def _check_actions(data: LocDict, target: Target, actions: Sequence[str]) -> None:
    needs = {"run": "run", "test": "tests", "generate": "projects", "size": "binaries"}
    for action in actions:
        goal = needs.get(action)
        if goal and goal not in target.goals:
            raise _error(data, "actions", "actions", f"TARGET={target.name} cannot '{action}': it serves only "
                         f"{', '.join(target.goals)}", fix="exclude this target from the action, or use another matrix")


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' with 1 <= i <= n."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ConfigError(f"invalid shard '{text}'", key="--shard",
                          fix="write --shard i/n with 1 <= i <= n, e.g. --shard 1/4")
    return int(match[1]), int(match[2])


def shard(cells: Sequence[Cell], index: int, count: int) -> list[Cell]:
    """Every count-th cell starting at index (1-based): shards stay balanced across targets."""
    return [c for k, c in enumerate(cells) if k % count == index - 1]


# ---- running cells --------------------------------------------------------------------------------


def steps_for(cell: Cell, programs: list[tuple[str, bool]], scons: Callable[[Sequence[str]], list[str]],
              gen: Path, jobs: int, variables: dict[str, str]) -> list[Step]:
    """The scons invocations of a cell, in order."""
    names = [p for p, _ in programs]
    runnable = [p for p, is_test in programs if not is_test]
    tests = [p for p, is_test in programs if is_test]
    common = [f"-j{jobs}", f"GEN_DIR={gen}", *(f"{k}={v}" for k, v in {**cell.variables(), **variables}.items())]
    steps: list[Step] = []
    for action in cell.actions:
        if action == "build":
            steps.append(Step(action, scons([*(names or ["microlite"]), *common])))
        elif action == "run" and runnable:
            steps.append(Step(action, scons([*(f"run_{p}" for p in runnable), *common])))
        elif action == "test" and tests:
            steps.append(Step(action, scons([*(f"test_{p}" for p in tests), *common])))
        elif action == "size" and runnable:
            steps.append(Step(action, scons([*(f"size_{p}" for p in runnable), *common])))
        elif action == "generate":
            for kind in cell.kinds:
                steps.append(Step(action, scons([f"generate_{cell.example}_{kind}_project", *common])))
                project_build = _project_build(kind, jobs)
                if project_build:
                    steps.append(Step(f"build {kind} project", project_build, project_kind=kind))
    return steps


def _project_dir(gen: Path, cell: Cell, kind: str) -> Path:
    """Where projects.py writes the project: gen/<config>/prj/<example>/<kind>/ (one config per cell GEN_DIR)."""
    configs = sorted(p for p in gen.iterdir() if (p / "prj" / cell.example / kind).is_dir()) if gen.is_dir() else []
    return configs[0] / "prj" / cell.example / kind if configs else gen


def _project_build(kind: str, jobs: int) -> list[str] | None:
    """How a generated project builds itself with its own tools; None for kinds needing an SDK."""
    if kind == "make":
        return ["make", f"-j{jobs}"]
    if kind == "cmake":
        return ["sh", "-c", f"cmake -S . -B build >/dev/null && cmake --build build -j{jobs}"]
    return None


_PASS = re.compile(r"^PASS  (test_\S+) \(([\d.]+) s\)", re.M)
_FAIL = re.compile(r"^FAIL  (test_\S+): (.*)$", re.M)


def unit_tests(output: str, expected: Sequence[str], status: int) -> list[UnitTest]:
    """Unit test results from a test step's output (runner.py's PASS / FAIL lines).

    A test not mentioned was up to date (its passing log is kept), so it passed
    if the step passed; otherwise it did not run (a build failure).
    """
    found: dict[str, UnitTest] = {}
    for match in _PASS.finditer(output):
        found[match[1]] = UnitTest(match[1], True, float(match[2]))
    lines = output.splitlines()
    for match in _FAIL.finditer(output):
        index = output[: match.start()].count("\n")
        found[match[1]] = UnitTest(match[1], False, 0.0, match[2], "\n".join(lines[max(0, index - 40): index + 3]))
    for name in expected:
        goal = f"test_{name}"
        if goal not in found:
            found[goal] = UnitTest(goal, status == 0, 0.0, "" if status == 0 else "not run: the build failed")
    return [found[k] for k in sorted(found)]


class Runner:
    """Runs cells in a thread pool; each cell's scons steps run one after another."""

    def __init__(self, matrix: Matrix, out: Path, scons: Callable[[Sequence[str]], list[str]], parallel: int,
                 jobs: int, variables: dict[str, str], echo: Callable[[str], None] = print) -> None:
        self.matrix, self.out, self.scons = matrix, out, scons
        self.parallel, self.jobs, self.variables, self.echo = parallel, jobs, variables, echo
        self.lock = threading.Lock()
        self.finished = 0

    def run(self, cells: Sequence[Cell]) -> list[CellResult]:
        self.total = len(cells)
        (self.out / "logs").mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            return list(pool.map(self.run_cell, cells))

    def run_cell(self, cell: Cell) -> CellResult:
        result = CellResult(cell)
        started = time.monotonic()
        gen = (self.out / "gen" / cell.id).resolve()
        log_path = self.out / "logs" / f"{cell.id}.log"
        result.log = str(log_path)
        programs = self.matrix.programs[(cell.target, cell.example)]
        variables = {**self.matrix.variables, **self.variables}
        env = {**os.environ, "NO_COLOR": "1"}
        status = 0
        with log_path.open("w") as log:
            for step in steps_for(cell, programs, self.scons, gen, self.jobs, variables):
                cwd = _project_dir(gen, cell, step.project_kind) if step.project_kind else None
                log.write(f"$ {' '.join(step.argv)}{f'  (in {cwd})' if cwd else ''}\n")
                log.flush()
                try:
                    proc = subprocess.run(step.argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                    output, status = proc.stdout.decode(errors="replace"), proc.returncode
                except OSError as exc:
                    output, status = f"cannot run {step.argv[0]}: {exc.strerror}\n", 127
                log.write(output)
                if step.action == "test":
                    result.tests = unit_tests(output, [p for p, is_test in programs if is_test], status)
                if status != 0:
                    result.failed_action = step.action
                    result.message = _failure_line(output, status)
                    break
        result.status = "passed" if status == 0 else "failed"
        result.seconds = time.monotonic() - started
        with self.lock:
            self.finished += 1
            width = len(str(self.total))
            verdict = "PASS" if status == 0 else "FAIL"
            extra = f"  {result.failed_action}: {result.message}" if status else ""
            self.echo(f"[{self.finished:>{width}}/{self.total}] {verdict}  {cell.id}  "
                      f"({', '.join(cell.actions)}) {result.seconds:.1f} s{extra}")
        return result


def _failure_line(output: str, status: int) -> str:
    """The most telling line of a failed step: an error message, else the last line."""
    lines = [line for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line or line.startswith(("FAIL  ", "FAILED:", "tflm-build: error")):
            return line.strip()[:300]
    return (lines[-1].strip()[:300] if lines else "") or f"exit status {status}"


# ---- reports -------------------------------------------------------------------------------------


def junit(results: Sequence[CellResult], name: str = "tflm-build ci") -> ET.ElementTree:
    """A testsuite per cell holding the cell's testcase and one per unit test."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    seconds = 0.0
    for res in results:
        suite = ET.SubElement(root, "testsuite", name=res.cell.id)
        cases = [(res.cell.id, "tflm-build.ci", res.seconds, res.status, res.message,
                  Path(res.log).read_text(errors="replace")[-20000:] if res.log and Path(res.log).exists() else "")]
        cases += [(t.name, res.cell.id, t.seconds, "passed" if t.passed else "failed", t.message, t.output)
                  for t in res.tests]
        failures = 0
        for case_name, classname, time_s, status, message, output in cases:
            case = ET.SubElement(suite, "testcase", name=case_name, classname=classname, time=f"{time_s:.3f}")
            if status == "failed":
                failures += 1
                ET.SubElement(case, "failure", message=message or "failed").text = output
            elif status == "skipped":
                ET.SubElement(case, "skipped")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("time", f"{res.seconds:.3f}")
        totals["tests"] += len(cases)
        totals["failures"] += failures
        seconds += res.seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def markdown(results: Sequence[CellResult], shard_text: str) -> str:
    passed = sum(1 for r in results if r.status == "passed")
    tests = [t for r in results for t in r.tests]
    head = "✅" if passed == len(results) else "❌"
    lines = [f"## {head} tflm-build ci (shard {shard_text}): {passed} of {len(results)} cells passed, "
             f"{sum(t.passed for t in tests)} of {len(tests)} unit tests passed", "",
             "| result | cell | target | arch | example | build type | kernels | actions | time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.cell
        mark = "✅ pass" if r.status == "passed" else "❌ fail"
        lines.append(f"| {mark} | `{c.id}` | {c.target} | {c.arch} | {c.example} | {c.build_type} | "
                     f"{c.kernel_dir or REFERENCE} | {', '.join(c.actions)} | {r.seconds:.1f} s |")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines += ["", "### Failures", ""]
        for r in failed:
            message = r.message.replace("`", "'")
            lines.append(f"- `{r.cell.id}`: **{r.failed_action}** failed: `{message}`")
            for t in r.tests:
                if not t.passed:
                    lines.append(f"  - `{t.name}`: {t.message}")
            lines.append(f"  - log: `{r.log}`")
    return "\n".join(lines) + "\n"


def summary_json(results: Sequence[CellResult], shard_text: str) -> dict[str, Any]:
    return {
        "shard": shard_text,
        "passed": all(r.status == "passed" for r in results),
        "cells": [{**asdict(r.cell), "id": r.cell.id, "status": r.status, "seconds": round(r.seconds, 3),
                   "failed_action": r.failed_action, "message": r.message, "log": r.log,
                   "tests": [asdict(t) | {"output": None} for t in r.tests]} for r in results],
    }


def write_reports(results: Sequence[CellResult], out: Path, shard_text: str) -> dict[str, Path]:
    paths = {"junit": out / "junit.xml", "markdown": out / "summary.md", "json": out / "summary.json"}
    junit(results).write(paths["junit"], encoding="utf-8", xml_declaration=True)
    paths["markdown"].write_text(markdown(results, shard_text))
    paths["json"].write_text(json.dumps(summary_json(results, shard_text), indent=1) + "\n")
    return paths


def run(matrix_path: Path, out: Path, shard_text: str, parallel: int | None, variables: dict[str, str],
        scons: Callable[[Sequence[str]], list[str]], echo: Callable[[str], None] = print) -> int:
    """The ci command: check the matrix, run this shard's cells, write the reports; 1 if a cell failed."""
    index, count = parse_shard(shard_text)
    guards.check_cell_variables(variables)
    matrix = load_matrix(matrix_path)
    cells = shard(matrix.cells, index, count)
    cores = os.cpu_count() or 1
    at_once = max(1, min(len(cells), parallel or cores))
    jobs = max(1, cores // at_once)
    echo(f"tflm-build ci: {len(cells)} of {len(matrix.cells)} cells (shard {index}/{count}), "
         f"{at_once} at a time with -j{jobs}")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = Runner(matrix, out, scons, at_once, jobs, variables, echo).run(cells) if cells else []
    paths = write_reports(results, out, f"{index}/{count}")
    failed = sum(1 for r in results if r.status != "passed")
    echo(f"tflm-build ci: {len(results) - failed} passed, {failed} failed in {time.monotonic() - started:.1f} s; "
         f"reports: {paths['junit']}, {paths['markdown']}, {paths['json']}")
    return 1 if failed else 0


# ---- workflow files ------------------------------------------------------------------------------

GITHUB = """\
# Written by `tflm-build ci --emit github`; the matrix itself is {{ matrix }}.
name: tflm-build ci
on: [push, pull_request, workflow_dispatch]
jobs:
  ci:
    runs-on: ubuntu-24.04
    strategy:
      fail-fast: false
      matrix:
        shard: [{{ shards | join(', ') }}]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
{%- if packages %}
      - name: System packages
        run: sudo apt-get update && sudo apt-get install -y --no-install-recommends {{ packages | join(' ') }}
{%- endif %}
      - name: Caches (downloads and compiled objects)
        uses: actions/cache@v4
        with:
          path: .tflm-cache
          key: tflm-build-${{ '{{' }} matrix.shard {{ '}}' }}-${{ '{{' }} github.sha {{ '}}' }}
          restore-keys: tflm-build-${{ '{{' }} matrix.shard {{ '}}' }}-
      - run: pip install .
      - name: tflm-build ci shard ${{ '{{' }} matrix.shard {{ '}}' }}/{{ count }}
        run: tflm-build ci --matrix {{ matrix }} --shard ${{ '{{' }} matrix.shard {{ '}}' }}/{{ count }} --out ci-out
        env:
          TFLM_BUILD_CACHE: .tflm-cache/downloads
          TFLM_BUILD_CACHE_DIR: .tflm-cache/objects
      - if: always()
        run: cat ci-out/summary.md >> "$GITHUB_STEP_SUMMARY"
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: tflm-build-ci-${{ '{{' }} matrix.shard {{ '}}' }}
          path: ci-out/
"""

GITLAB = """\
# Written by `tflm-build ci --emit gitlab`; the matrix itself is {{ matrix }}.
tflm-build-ci:
  image: python:3.11-bookworm
  parallel: {{ count }}
  variables:
    TFLM_BUILD_CACHE: "$CI_PROJECT_DIR/.tflm-cache/downloads"
    TFLM_BUILD_CACHE_DIR: "$CI_PROJECT_DIR/.tflm-cache/objects"
  cache:
    key: tflm-build-$CI_NODE_INDEX
    paths: [.tflm-cache/]
  before_script:
{%- if packages %}
    - apt-get update && apt-get install -y --no-install-recommends {{ packages | join(' ') }}
{%- endif %}
    - pip install .
  script:
    - tflm-build ci --matrix {{ matrix }} --shard ${CI_NODE_INDEX:-1}/${CI_NODE_TOTAL:-1} --out ci-out
  artifacts:
    when: always
    paths: [ci-out/]
    reports:
      junit: ci-out/junit.xml
"""

EMIT_DEFAULTS = {"github": Path(".github/workflows/tflm-build-ci.yml"), "gitlab": Path(".gitlab-ci.yml")}


def packages(matrix: Matrix, repo: Path = REPO) -> list[str]:
    """Debian packages the matrix's targets name in their install hints ('apt-get install a b; ...')."""
    registry = TargetRegistry(repo / "targets")
    found: dict[str, None] = {}
    for name in sorted({c.target for c in matrix.cells}):
        target = registry.load(name, None)
        for hint in ((target.get("toolchain") or {}).get("install"), (target.get("runner") or {}).get("install")):
            match = re.search(r"apt-get install ([^;()]+)", hint or "")
            found.update(dict.fromkeys(match[1].split() if match else ()))
    if any(c.kinds and "generate" in c.actions for c in matrix.cells):
        found.update(dict.fromkeys(["make", "cmake"]))
    return list(found)


def emit(service: str, matrix_path: Path, count: int, output: Path | None) -> Path:
    """Write the workflow of ``service`` running ``count`` shards of the matrix."""
    import jinja2

    if service not in EMIT_DEFAULTS:
        raise unknown_choice("CI service for --emit", service, EMIT_DEFAULTS)
    if count < 1:
        raise ConfigError(f"--shards {count}: need at least one shard", key="--shards", fix="write --shards 1 or more")
    matrix = load_matrix(matrix_path)
    template = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(
        GITHUB if service == "github" else GITLAB)
    try:
        shown = matrix_path.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = matrix_path
    text = template.render(matrix=shown, count=count, shards=list(range(1, count + 1)), packages=packages(matrix))
    path = output or EMIT_DEFAULTS[service]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


__all__ = ["Cell", "CellResult", "Matrix", "load_matrix", "parse_shard", "shard", "run", "emit", "junit",
           "markdown", "summary_json", "unit_tests"]
