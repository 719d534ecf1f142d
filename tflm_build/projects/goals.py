"""The goals ``generate_<example>_<kind>_project`` and ``list_<example>_<kind>_files``: registered for
every example and kind the target can produce, planned and rendered only when asked for (a build
that asks for none loads nothing of project generation)."""
from __future__ import annotations

from typing import Any

from ..build.goals import GoalName, Goals, goal_name, list_goal
from ..errors import ConfigError, unknown_choice
from ..resources import TARGETS


def declare(build: Any, goals: Goals) -> None:
    """Add the generate_/list_ goals of every example and kind; declare the requested ones."""
    target = build.target
    kinds = list(target.project_kinds) if "projects" in target.goals else []
    examples = sorted({s.example for s in build.sources_of.values() if s.example})
    names: dict[str, tuple[str, str, bool]] = {}
    for example in examples:
        for kind in kinds:
            generate, files = goal_name("project", example, kind), goal_name("project_files", example, kind)
            names[generate] = (example, kind, True)
            names[files] = (example, kind, False)
            goals[generate] = f"write a standalone {kind} project for {example} into {build.gen}/prj/{example}/{kind}/"
            goals[files] = f"print the files of the {kind} project for {example}"
    for parsed in goals.requested:
        if parsed.goal in names:
            example, kind, generate = names[parsed.goal]
            _declare_goal(build, parsed.goal, example, kind, generate)
        elif parsed.goal not in goals and parsed.family in ("project", "project_files"):
            raise _bad_goal(build, parsed, kinds)


def _declare_goal(build: Any, goal: str, example: str, kind_name: str, generate: bool) -> None:
    from .generate import ProjectBuilder
    from .kinds import load_kind

    project = ProjectBuilder(build, load_kind(kind_name), example).plan()
    if generate:
        from ..scons_tools import project_files, tool as scons_tool

        build.env.Tool(scons_tool(project_files))
        build.env.Alias(goal, build.env.TflmProject(project.plan, project.inputs))
    else:
        list_goal(build.env, goal, sorted(e.dest for e in project.plan.entries), sep="\n")


def _bad_goal(build: Any, parsed: GoalName, kinds: list[str]) -> ConfigError:
    """Why a generate_/list_ goal cannot be served: unknown example or kind, or not on this target."""
    target = build.target
    goal, middle = parsed.goal, "_".join(p for p in (parsed.subject, parsed.kind) if p)
    all_examples = build.examples.names()
    example = max((e for e in all_examples if middle.startswith(e + "_")), key=len, default=None)
    if example is None:
        return unknown_choice("example in goal " + repr(goal), middle.rsplit("_", 1)[0], all_examples)
    kind = middle[len(example) + 1:]
    if "projects" not in target.goals:
        return ConfigError(f"TARGET={target.name} cannot generate projects", file=target.file, key="goals",
                           fix="add 'projects' to its goals and list its project_kinds, or pick another TARGET")
    if kind not in kinds:
        from .kinds import kind_names

        known = kind_names()
        where = f"TARGET={target.name} cannot produce '{kind}' projects" if kind in known \
            else f"unknown project kind '{kind}'"
        producers = _targets_producing(kind) if kind in known else []
        return ConfigError(where, file=target.file, key="project_kinds", choices=kinds,
                           fix=f"use TARGET={' or TARGET='.join(producers)} for '{kind}' projects" if producers
                           else f"choose one of {', '.join(kinds)} (kinds that exist: {', '.join(known)})")
    program = next((p for p, why in build.unavailable.items() if p == example or p.startswith(example)), None)
    why = build.unavailable.get(program or "", None) or "it is excluded on this target"
    return ConfigError(f"cannot generate a project for '{example}' on TARGET={target.name}: {why}",
                       fix="use a TFLM tree that has this example (TFLM_ROOT=), or another TARGET")


def _targets_producing(kind: str) -> list[str]:
    from ..model.targets import TargetRegistry

    registry = TargetRegistry(TARGETS)
    return [n for n in registry.names() if kind in registry.load(n, None).project_kinds]
