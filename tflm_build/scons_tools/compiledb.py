"""Tool: ``gen/<config>/compile_commands.json`` for clangd, clang-tidy and IDEs.

Why not SCons's ``compilation_db`` tool: it rewrites the file on every build
(it is always out of date) and writes the commands as run, launcher (ccache,
distcc) and colour flags included.  Here every object's command is recorded by
an emitter, as SCons's tool does, and written

* by the goal ``compiledb`` (always), and
* at the end of any build that compiled something of this configuration, or
  when the file is missing, so it follows flag changes without a step of its own.

Every object the configuration declares is listed (not only those built in
this run), with the command run from the repository (``directory``), launcher
and colour flags left out.
"""
from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

from SCons.Action import Action

from ..files import write_atomic

_COMS = {".c": "$CCCOM", ".cc": "$CXXCOM", ".cpp": "$CXXCOM", ".cxx": "$CXXCOM", ".S": "$ASPPCOM", ".s": "$ASCOM"}
# Construction variables that must not reach the database (they do not change what is compiled).
# The precompiled header is left out too: each source compiles without it (and clangd cannot read gcc's).
_NEUTRAL = {"TFLM_LAUNCHER": "", "TFLM_DIAG_FLAGS": "", "TFLM_PCH_FLAGS": ""}
FILE_NAME = "compile_commands.json"


class Recorder:
    """The objects of this configuration and how to write their database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[tuple[Any, Any, Any]] = []  # (object node, source node, env)

    def emitter(self, target: list[Any], source: list[Any], env: Any) -> tuple[list[Any], list[Any]]:
        self.entries.append((target[0], source[0], env))
        return target, source

    def database(self) -> list[dict[str, str]]:
        directory = os.path.abspath(str(self.entries[0][2].Dir("#"))) if self.entries else os.getcwd()
        rows = []
        for obj, src, env in self.entries:
            com = _COMS.get(os.path.splitext(str(src))[1])
            if com is None:
                continue
            command = env.Override(_NEUTRAL).subst(com, target=obj, source=src)
            rows.append({"directory": directory, "file": src.srcnode().get_abspath(), "output": obj.get_abspath(),
                         "command": " ".join(command.split())})
        return rows

    def write(self) -> None:
        """Write atomically, and only when the content differs (editors watch this file)."""
        text = json.dumps(self.database(), indent=1) + "\n"
        if self.path.exists() and self.path.read_text() == text:
            return
        write_atomic(self.path, text)

    def write_if_built(self) -> None:
        """At exit: refresh the database when this run compiled something or it is missing."""
        from SCons.Script import GetOption
        import SCons.Node

        if GetOption("clean") or GetOption("help") or GetOption("no_exec"):
            return
        states = {obj.get_state() for obj, _, _ in self.entries}
        if SCons.Node.executed in states or (not self.path.exists() and SCons.Node.up_to_date in states):
            self.write()


_recorder: Recorder | None = None


def generate(env: Any) -> None:
    """Record every object declared from now on into $TFLM_GEN/compile_commands.json; arm the end-of-build refresh."""
    from SCons.Tool import createObjBuilders
    from SCons.Builder import ListEmitter

    global _recorder
    _recorder = Recorder(Path(env["TFLM_GEN"]) / FILE_NAME)
    static_obj, _shared = createObjBuilders(env)
    for suffix in _COMS:
        old = static_obj.emitter.get(suffix)
        if old is not None:
            static_obj.emitter[suffix] = ListEmitter(env.Flatten(old) + [_recorder.emitter])
    atexit.register(_recorder.write_if_built)


def declare(build: Any, goals: dict[str, str]) -> None:
    """The goal ``compiledb``: write the database now (a build extension, see build.goals.Extension)."""
    recorder = _recorder
    if recorder is None:
        return

    def write(target: Any, source: Any, env: Any) -> int:
        recorder.write()
        return 0

    node = build.env.Command(str(recorder.path), [], Action(write, "DB    $TARGET"))
    build.env.AlwaysBuild(node)
    build.env.Alias("compiledb", node)
    goals["compiledb"] = f"write {FILE_NAME} for this configuration (clangd, clang-tidy)"


def exists(env: Any) -> bool:
    return True
