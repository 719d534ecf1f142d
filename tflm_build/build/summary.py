"""The end of a run: 'N passed, N failed' for the tests asked for, and exit status 1 on any failure."""
from __future__ import annotations

import atexit
import os
import sys
from typing import Any

from .goals import goal_name, parse


def register_summary(test_nodes: list[Any]) -> None:
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
    own = goal_name("test", name)
    return goal_name("all_tests") in requested or own in requested or any(
        parse(r).family == "test" and r != own and node in SCons.Node.Alias.default_ans.lookup(r).children()
        for r in requested if SCons.Node.Alias.default_ans.lookup(r) is not None)
