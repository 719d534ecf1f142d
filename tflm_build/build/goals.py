"""Goals: the grammar of goal names, in one place, and the registry capabilities add goals to.

The Makefile's goal names carry their arguments (``run_hello_world``,
``generate_hello_world_make_project``); every part of the build that needs to know what a
goal names asks :func:`parse`, and every goal name is written by :func:`goal_name`, so
the grammar has one home.  Each capability (programs, run and test, size, flash, compile
database, projects) registers the goals it serves, with a help line, into :class:`Goals`
while it declares their nodes (PlatformIO's ``AddTarget``), and goal checking and
``scons -h`` read that one registry.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

from SCons.Action import Action

# family -> (pattern with the named groups it carries, the target capability it needs, its name template).
# Order matters: the first matching family wins (``list_x_make_files`` before ``list_...``).
GRAMMAR: tuple[tuple[str, str, str | None, str], ...] = (
    ("library", r"microlite", "library", "microlite"),
    ("all_programs", r"build", "binaries", "build"),
    ("all_tests", r"test", "tests", "test"),
    ("project", r"generate_(?P<subject>.+?)(?:_(?P<kind>[a-z0-9]+))?_project", None,
     "generate_{subject}_{kind}_project"),
    ("project_files", r"list_(?P<subject>.+?)(?:_(?P<kind>[a-z0-9]+))?_files", None, "list_{subject}_{kind}_files"),
    ("example_sources", r"list_(?P<subject>.+)_example_sources", None, "list_{subject}_example_sources"),
    ("example_headers", r"list_(?P<subject>.+)_example_headers", None, "list_{subject}_example_headers"),
    ("list", r"list_.+", None, "{subject}"),
    ("info", r"config_info", None, "config_info"),
    ("test", r"test_(?P<subject>.+)", "tests", "test_{subject}"),
    ("run", r"run_(?P<subject>.+)", "run", "run_{subject}"),
    ("size", r"size_(?P<subject>.+)", None, "size_{subject}"),
    ("flash", r"flash_(?P<subject>.+)", None, "flash_{subject}"),
    ("debug", r"debug_(?P<subject>.+)", None, "debug_{subject}"),
    ("bin", r"(?P<subject>.+)_bin", "binaries", "{subject}_bin"),
    ("program", r"(?P<subject>[^/\\]+)", None, "{subject}"),
)
_TEMPLATES = {family: template for family, _, _, template in GRAMMAR}
# Goals that span every program: their runs declare all program nodes.
SPANNING = ("all_programs", "all_tests", "file")


@dataclass(frozen=True)
class GoalName:
    """A goal name parsed once: its family, the program / example it names, a project kind."""

    goal: str
    family: str  # a family of GRAMMAR, or "file" for a path
    subject: str = ""
    kind: str = ""
    needs: str | None = None  # what the target must serve (its `goals:`): library, binaries, run, tests


def parse(goal: str) -> GoalName:
    """What a goal name means; a path (``gen/.../foo.o``) is the family ``file``."""
    if "/" in goal or os.sep in goal:
        return GoalName(goal, "file")
    for family, pattern, needs in _compiled():
        match = pattern.match(goal)
        if match:
            groups = match.groupdict()
            return GoalName(goal, family, groups.get("subject") or "", groups.get("kind") or "", needs)
    return GoalName(goal, "file")  # unreachable: ``program`` matches every name without a slash


@functools.cache
def _compiled() -> tuple[tuple[str, re.Pattern[str], str | None], ...]:
    """The grammar's patterns, compiled on first use (a no-op build parses a goal or two)."""
    return tuple((family, re.compile(f"^(?:{pattern})$"), needs) for family, pattern, needs, _ in GRAMMAR)


def goal_name(family: str, subject: str = "", kind: str = "") -> str:
    """The goal of ``family`` for ``subject`` (and ``kind``): the inverse of :func:`parse`."""
    return _TEMPLATES[family].format(subject=subject, kind=kind)


class Goals(dict[str, str]):
    """Goal name -> help line, for every goal this configuration serves, plus what was requested.

    A dict so that a capability registers a goal with ``goals[name] = help``.
    """

    def __init__(self, requested: Sequence[str], fixed: dict[str, str]) -> None:
        super().__init__(fixed)
        self.fixed = dict(fixed)
        self.requested = tuple(parse(g) for g in requested)

    def asked(self, *families: str) -> bool:
        """Was a goal of one of these families requested?"""
        return any(g.family in families for g in self.requested)

    def asked_for(self, family: str, subject: str) -> bool:
        return any(g.family == family and g.subject == subject for g in self.requested)


class Extension(Protocol):
    """A capability that adds goals from what the build declared (size, flash, runner, compiledb, projects).

    ``declare`` registers each goal it can serve into ``goals`` (name -> help) and
    declares nodes only for the goals requested, so a no-op start-up stays short.
    """

    def declare(self, build: Any, goals: Goals) -> None: ...


def _nothing(target: Any, source: Any, env: Any) -> int:
    """The action of goals whose work is done while reading (lists): keeps SCons quiet."""
    return 0


_QUIET_ACTION = Action(_nothing, None)


def list_goal(env: Any, name: str, items: Iterable[str], sep: str = " ") -> None:
    """A goal that prints a list; printed while reading, and only when asked for (no Action to build)."""
    from SCons.Script import COMMAND_LINE_TARGETS

    env.AlwaysBuild(env.Alias(name, [], _QUIET_ACTION))
    if name in COMMAND_LINE_TARGETS:
        print(sep.join(str(i) for i in items))
