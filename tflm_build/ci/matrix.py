"""The build matrix of ``tflm-build ci`` (``ci.yaml``): its schema, its cells and shards.

``tflm-build ci`` runs a build matrix on any CI service, or writes the service's workflow file.

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

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..build.configuration import check_kernel_dir_allowed
from ..build.guards import check_cell_variables
from ..build.variables import BUILD_TYPES
from ..build.workspace import current_workspace, registries
from ..errors import ConfigError, unknown_choice
from ..model.schema import Field, Schema, str_list, validate
from ..model.targets import Target
from ..model.yamlio import LocDict, load_yaml

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


def load_matrix(path: Path) -> Matrix:
    """Read and check a matrix file: every name is checked before any cell runs (the targets and
    examples are those of the workspace the file is in, and the shipped ones)."""
    data = load_yaml(path)
    if data is None:
        raise ConfigError("the matrix file is empty", file=path, fix="write at least 'targets:' and 'examples:'")
    validate(data, SCHEMA)
    check_cell_variables(data.get("variables") or {}, data.file)
    targets, examples = registries(current_workspace(path.resolve().parent))
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
        allowed = list(base.allowed_arches or [base.arch])
        for arch in arches:
            if arch not in allowed:
                raise _error(target_map, name, f"targets.{name}", f"TARGET={name} has no arch '{arch}'",
                             choices=allowed)
        _check_actions(data, base, actions)
        kinds = tuple(data.get("project_kinds") or (base.project_kinds or ("make",))[:1])
        if "generate" in actions:
            for kind in kinds:
                if kind not in base.project_kinds:
                    raise _error(data, "project_kinds", "project_kinds", f"TARGET={name} has no project kind '{kind}'",
                                 choices=base.project_kinds)
        for kernel_dir in kernel_dirs:
            try:
                check_kernel_dir_allowed(base, kernel_dir)
            except ConfigError:
                raise _error(data, "kernel_dirs", "kernel_dirs", f"TARGET={name} does not allow kernel dir "
                             f"'{kernel_dir}'", choices=[REFERENCE, *(base.kernel_dirs.allowed or ())]) from None
        for arch in arches or [base.arch]:
            target = targets.load(name, arch)
            for example in data["examples"]:
                ex = examples.get(example)
                if ex.excluded_on(target.lineage, target.exclude_examples):
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
