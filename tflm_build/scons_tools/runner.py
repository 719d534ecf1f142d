"""Tool: run a program (host or emulator), check it, and keep the result.

``env.TflmRun(result, program, ...)`` builds ``result`` (a log file) by
running ``program``: it passes only if the program exits 0 *and* prints every
expected line (the Makefile's run_ goals pipe through tee and call a QEMU
abort a success).  A hung program is killed after the timeout.  Because the
log is a build target, ``scons test`` reruns only tests whose binary changed.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from SCons.Action import Action

from ..errors import ConfigError
from ..files import write_atomic


def run(argv: Sequence[str], timeout: int, expected: Sequence[str], echo: bool) -> tuple[bool, str, str]:
    """Run argv; return (passed, output, reason)."""
    start = time.monotonic()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    chunks: list[bytes] = []
    try:
        out, _ = proc.communicate(timeout=timeout)
        chunks.append(out)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        chunks.append(out)
        text = b"".join(chunks).decode(errors="replace")
        return False, text, f"timed out after {timeout} s and was killed"
    text = b"".join(chunks).decode(errors="replace")
    if echo:
        sys.stdout.write(text)
        sys.stdout.flush()
    if proc.returncode != 0:
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        return False, text, how
    missing = [line for line in expected if line not in text]
    if missing:
        return False, text, "did not print " + ", ".join(repr(m) for m in missing)
    return True, text, f"{time.monotonic() - start:.2f} s"


def _action(target: list[Any], source: list[Any], env: Any) -> int:
    program = str(source[0])
    argv = [a.replace("{program}", program) for a in env["TFLM_RUN_ARGV"]]
    name = env["TFLM_RUN_NAME"]
    ok, output, reason = run(argv, int(env["TFLM_RUN_TIMEOUT"]), env["TFLM_RUN_EXPECT"], bool(env["TFLM_RUN_ECHO"]))
    log = Path(str(target[0]))
    if ok:
        write_atomic(log, output)
        print(f"PASS  {name} ({reason})")
        return 0
    if log.exists():
        log.unlink()
    tail = "\n".join(output.rstrip().splitlines()[-40:])
    if not env["TFLM_RUN_ECHO"] and tail:
        print(tail)
    print(f"FAIL  {name}: {reason}\n  command: {' '.join(argv)}\n  rerun alone: {env['TFLM_RUN_RERUN']}")
    return 1


# Created once: SCons fingerprints a Python action's bytecode at creation, a
# start-up cost that would otherwise be paid for every test.
_ACTION = Action(_action, None, varlist=["TFLM_RUN_ARGV", "TFLM_RUN_EXPECT", "TFLM_RUN_TIMEOUT"])


def generate(env: Any, **_: Any) -> None:
    def tflm_run(env: Any, result: str, program: Any, *, name: str, argv: Sequence[str], timeout: int,
                 expected: Sequence[str], echo: bool, rerun: str) -> Any:
        return env.Command(result, program, _ACTION, TFLM_RUN_ARGV=list(argv), TFLM_RUN_EXPECT=list(expected),
                           TFLM_RUN_TIMEOUT=timeout, TFLM_RUN_ECHO=echo, TFLM_RUN_NAME=name,
                           TFLM_RUN_RERUN=rerun)

    env.AddMethod(tflm_run, "TflmRun")


def check_tool(target: Any, runs: bool) -> None:
    """Refuse run and test goals before any work when the runner's program (e.g. QEMU) is missing.

    Only when such a goal is requested: building the library or binaries of a
    QEMU target needs no QEMU.
    """
    if runs:
        require_tool(target, lambda: "or build without running (the program or <program>_bin goals)")


def require_tool(target: Any, alternative: Callable[[], str]) -> None:
    """The runner's program must be on PATH (a host runner needs none); else a ConfigError ending in ``alternative()``."""
    runner = target.runner
    if runner.kind != "command":
        return
    tool = target.expand(runner.tool or runner.command[0])
    if shutil.which(tool) is None:
        raise ConfigError(f"'{tool}', which runs the programs of TARGET={target.name}, is not on PATH",
                          file=target.file, key="runner.tool",
                          fix="; ".join(x for x in (runner.install or f"install {tool}", alternative()) if x))


def declare(build: Any, goals: Any) -> None:
    """Build extension hook: only the check above (the run and test goals are declared with the programs)."""
    check_tool(build.target, goals.asked("all_tests", "test", "run"))


def exists(env: Any) -> bool:
    """Whether the target's programs can run here: a host runner, or its runner's tool on PATH."""
    target = env.get("TFLM_TARGET")
    if target is None or target.runner.kind == "none":
        return False
    if target.runner.kind == "host":
        return True
    return shutil.which(target.expand(target.runner.tool or target.runner.command[0])) is not None
