"""Tool: ``debug_<program>``: the program under gdb, stopped at main.

What a target needs is data (``debug:`` in its YAML): the debuggers to try and, for an
emulator, the arguments that start its runner halted with a gdb stub.  On the host gdb
runs the program itself; on ``cortex_m_qemu`` the runner's QEMU starts halted before
the first instruction with its stub on 127.0.0.1 (a free port) and gdb-multiarch (or
arm-none-eabi-gdb) attaches with the program's symbols.  Either way gdb's first
commands put a breakpoint on ``main`` and run to it; then the session is the user's.

``GDB_BATCH=<command file>`` makes it non-interactive through the same code path: the
same argv with ``-batch -x <file>`` appended, so the tests run exactly what a user
runs.  Interactively gdb gets the terminal's foreground (Ctrl-C stops the program,
not SCons), and QEMU, in its own session, is stopped when gdb exits.

Generated make and cmake projects name the same debugger and server in their VS Code
files (:func:`project_context`).
"""
from __future__ import annotations

import os
import shutil
import shlex
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from SCons.Action import Action

from ..build.goals import Goals, goal_name
from ..errors import ConfigError
from ..model.targets import TargetRegistry
from . import runner as runner_tool

PROJECT_PORT = 1234  # QEMU's own default (-s): what a generated project's launch configuration uses
_START_HOST = ("break main", "run")
_START_REMOTE = ("set tcp connect-timeout 30", "target remote 127.0.0.1:{port}", "break main", "continue")


@dataclass(frozen=True)
class Session:
    """One debugging session: the debugger, the program and, for an emulator, its gdb server."""

    gdb: str
    program: str
    server: tuple[str, ...] = ()  # argv of the halted emulator; () when gdb runs the program itself
    port: int = 0
    timeout: int = 300  # batch mode only: a session that hangs is killed

    def start(self) -> list[str]:
        """gdb's first commands: stop at main."""
        return [c.replace("{port}", str(self.port)) for c in (_START_REMOTE if self.server else _START_HOST)]

    def gdb_argv(self, batch: str | None) -> list[str]:
        argv = [self.gdb, "-q"]
        for command in self.start():
            argv += ["-ex", command]
        if batch:
            argv += ["-batch", "-x", batch]
        return argv + [self.program]


def debuggers(target: Any) -> list[str]:
    return list(target.debug.gdb)


def find_gdb(target: Any) -> str | None:
    return next((name for name in debuggers(target) if shutil.which(name)), None)


def server_argv(target: Any, port: int | str) -> list[str]:
    """The runner's command plus the target's stub arguments, ``{program}`` left in place ([] on the host)."""
    stub = target.debug.stub
    if not stub:
        return []
    argv, _ = target.runner_argv()
    return argv + [target.expand(a.replace("{port}", "{{port}}")).replace("{port}", str(port)) for a in stub]


def check(target: Any, program: str, targets: TargetRegistry | None = None) -> str:
    """The debugger to use for ``program``, or a ConfigError saying what to install or which target can.

    ``targets`` (a TargetRegistry) names the targets that can debug, for the message.
    """
    spec = target.debug
    if not target.can_debug:
        instead = _suggest(targets, lambda t: t.can_debug, "debug on")
        raise ConfigError(f"TARGET={target.name} cannot debug '{program}': it has no runner to start it under gdb",
                          file=target.file, key="debug",
                          fix=f"{instead + '; ' if instead else ''}on a board, start your probe's gdb server "
                              "(OpenOCD, pyOCD, J-Link) and attach gdb to it with the ELF of bin/")
    runner_tool.require_tool(target, lambda: _suggest(targets, lambda t: t.host and t.can_debug,
                                                      "or debug on the host with"))
    gdb = find_gdb(target)
    if gdb is None:
        raise ConfigError(f"no debugger for TARGET={target.name} on PATH (tried {', '.join(spec.gdb)})",
                          file=target.file, key="debug.gdb", choices=spec.gdb,
                          fix=spec.install or f"install {spec.gdb[0]}")
    return gdb


def _suggest(targets: TargetRegistry | None, wanted: Callable[[Any], bool], lead: str) -> str:
    """``lead`` and the targets for which ``wanted`` holds; '' when none does (or no registry is at hand)."""
    names = targets.suggest(wanted) if targets is not None else ""
    return f"{lead} {names}" if names else ""


def check_batch(path: str) -> str:
    if not Path(path).is_file():
        raise ConfigError(f"GDB_BATCH={path} is not a file", key="GDB_BATCH",
                          fix="name a file of gdb commands (one a line, e.g. 'next' and 'info locals'), "
                              "or leave GDB_BATCH unset for an interactive session")
    return str(Path(path).resolve())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(session: Session, batch: str | None) -> int:
    """Start the server (if any), run gdb, stop the server; gdb's exit status, or 1 on a timeout."""
    server = None
    if session.server:
        print(f"DEBUG {shlex.join(session.server)}", flush=True)
        server = subprocess.Popen(session.server, stdin=subprocess.DEVNULL, start_new_session=True)
    argv = session.gdb_argv(batch)
    print(f"DEBUG {shlex.join(argv)}", flush=True)
    try:
        if batch:
            try:
                return subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=session.timeout).returncode
            except subprocess.TimeoutExpired:
                print(f"FAIL  gdb did not finish within {session.timeout} s and was killed", file=sys.stderr)
                return 1
        return _interactive(argv)
    finally:
        if server is not None:
            _stop(server)


def _interactive(argv: Sequence[str]) -> int:
    """gdb in the terminal's foreground process group, so Ctrl-C reaches gdb and not SCons;
    the terminal goes back to the group that had it when gdb exits."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
        foreground = os.tcgetpgrp(tty)
    except OSError:
        return subprocess.run(list(argv)).returncode
    try:
        proc = subprocess.Popen(list(argv), preexec_fn=lambda: _give_terminal(tty, os.setpgrp() or os.getpgrp()))
        return proc.wait()
    finally:
        _give_terminal(tty, foreground)
        os.close(tty)


def _give_terminal(tty: int, group: int) -> None:
    """Make ``group`` the terminal's foreground; SIGTTOU is blocked, as a background group must."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        os.tcsetpgrp(tty, group)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTTOU})


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def project_context(target: Any) -> dict[str, Any] | None:
    """What a generated project's VS Code files need: the debugger this machine would use and the
    halted server's argv on the fixed PROJECT_PORT (None when the target cannot be debugged)."""
    if not target.can_debug:
        return None
    server = server_argv(target, PROJECT_PORT)
    session = Session(find_gdb(target) or debuggers(target)[0], "{program}", tuple(server), PROJECT_PORT)
    return {"gdb": session.gdb, "server": server, "port": PROJECT_PORT, "argv": session.gdb_argv(None)}


def _debugger(session: Session, batch: str) -> Callable[[Any, Any, Any], int]:
    """The goal's action: the session with the built program and, for an emulator, a free port."""
    def debug(target: Any, source: Any, env: Any) -> int:
        program = str(Path(str(source[0])).resolve())
        port = free_port() if session.server else 0
        server = tuple(a.replace("{program}", program).replace("{port}", str(port)) for a in session.server)
        return 0 if run(Session(session.gdb, program, server, port, session.timeout), batch or None) == 0 else 1
    return debug


def declare(build: Any, goals: Goals) -> None:
    """debug_<program> for every program the target links; checked and declared only when requested."""
    target = build.target
    for name in build.sources_of:
        requested = goals.asked_for("debug", name)
        if goal_name("bin", name) not in goals:  # a program this target cannot link
            if requested:
                check(target, name, build.targets)  # says why, and what to use instead
            continue
        goals[goal_name("debug", name)] = f"run {name} under gdb, stopped at main (GDB_BATCH=<file>: batch mode)"
        if not requested:
            continue
        gdb = check(target, name, build.targets)
        batch = check_batch(build.config["GDB_BATCH"]) if build.config["GDB_BATCH"] else ""
        if not any(str(f).startswith("-g") for f in build.env["CCFLAGS"]):
            print(f"tflm-build: note: BUILD_TYPE={build.config['BUILD_TYPE']} compiles without -g: gdb stops at "
                  "main but shows no source lines or local variables; use BUILD_TYPE=debug", file=sys.stderr)
        program = build.programs[name]
        elf = program[0] if isinstance(program, list) else program
        _, timeout = target.runner_argv()
        session = Session(gdb, "{program}", tuple(server_argv(target, "{port}")), 0,
                          int(build.config["TEST_TIMEOUT"] or timeout))
        build.env.AlwaysBuild(build.env.Alias(goal_name("debug", name), [elf], Action(_debugger(session, batch), None)))


def generate(env: Any) -> None:
    """Nothing to add to an environment: the goals are declared by :func:`declare`."""


def exists(env: Any) -> bool:
    """A debugger of the target ($TFLM_TARGET) is on PATH."""
    return find_gdb(env["TFLM_TARGET"]) is not None
