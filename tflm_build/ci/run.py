"""Running a matrix's cells: each one a configuration of the SCons build in its own GEN_DIR, in parallel
where cores allow; a failed cell does not stop the others."""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from ..build.guards import check_cell_variables
from ..errors import ConfigError
from ..build.goals import goal_name
from .matrix import Cell, Step, UnitTest, CellResult, Matrix, load_matrix, parse_shard, shard
from .report import write_reports


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
            steps.append(Step(action, scons([*(goal_name("run", p) for p in runnable), *common])))
        elif action == "test" and tests:
            steps.append(Step(action, scons([*(goal_name("test", p) for p in tests), *common])))
        elif action == "size" and runnable:
            steps.append(Step(action, scons([*(goal_name("size", p) for p in runnable), *common])))
        elif action == "generate":
            for kind in cell.kinds:
                steps.append(Step(action, scons([goal_name("project", cell.example, kind), *common])))
                project_build = _project_build(kind, jobs)
                if project_build:
                    steps.append(Step(f"build {kind} project", project_build, project_kind=kind))
    return steps


def _project_dir(gen: Path, cell: Cell, kind: str) -> Path:
    """Where project generation writes the project: gen/<config>/prj/<example>/<kind>/ (one config per cell GEN_DIR)."""
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



def run(matrix_path: Path, out: Path, shard_text: str, parallel: int | None, variables: dict[str, str],
        scons: Callable[[Sequence[str]], list[str]], echo: Callable[[str], None] = print) -> int:
    """The ci command: check the matrix, run this shard's cells, write the reports; 1 if a cell failed."""
    index, count = parse_shard(shard_text)
    check_cell_variables(variables)
    matrix = load_matrix(matrix_path)
    cells = shard(matrix.cells, index, count)
    cores = os.cpu_count() or 1
    at_once = max(1, min(len(cells), parallel or cores))
    jobs = max(1, cores // at_once)
    echo(f"tflm-build ci: {len(cells)} of {len(matrix.cells)} cells (shard {index}/{count}), "
         f"{at_once} at a time with -j{jobs}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot make the reports folder: {exc.strerror}", key="--out",
                          fix="name a folder (new or existing), not a file") from None
    started = time.monotonic()
    results = Runner(matrix, out, scons, at_once, jobs, variables, echo).run(cells) if cells else []
    paths = write_reports(results, out, f"{index}/{count}")
    failed = sum(1 for r in results if r.status != "passed")
    echo(f"tflm-build ci: {len(results) - failed} passed, {failed} failed in {time.monotonic() - started:.1f} s; "
         f"reports: {paths['junit']}, {paths['markdown']}, {paths['json']}")
    return 1 if failed else 0
