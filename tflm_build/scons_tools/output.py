"""Tool: what a build prints. One short numbered line per step, diagnostics kept whole, a closing line.

``[ 37/205] CXX tensorflow/lite/micro/kernels/conv.cc`` replaces SCons's full
command lines (``V=1`` brings them back, still numbered).  The total is what
this run will execute: when the build starts, the requested goals' graph is
walked once and every step that is out of date (or depends on one that is) is
counted, the way ninja counts its dirty edges.

Compiler output is captured per command and printed in one piece right after
its step line, so parallel jobs (-j) never interleave two diagnostics; a
failing command is printed once, in full, after ``FAILED:``.  Colour (the
compiler's and ours) is used only when stdout is a terminal and NO_COLOR is
unset; the colour flag stays out of the build signature, so switching between a
terminal and a pipe rebuilds nothing.  At the end one line says what was built,
where and how long it took.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

# Construction variable -> the short label of its steps.
LABELS = (("CXXCOMSTR", "CXX", "$SOURCE"), ("CCCOMSTR", "CC", "$SOURCE"), ("ASPPCOMSTR", "AS", "$SOURCE"),
          ("ASCOMSTR", "AS", "$SOURCE"), ("ARCOMSTR", "AR", "$TARGET"), ("LINKCOMSTR", "LINK", "$TARGET"),
          ("TFLM_BIN_COMSTR", "BIN", "$TARGET"), ("TFLM_GEN_COMSTR", "GEN", "$TARGET"),
          ("RANLIBCOMSTR", "RANLIB", "$TARGET"), ("TFLM_PCH_COMSTR", "PCH", "$TARGET"))
# Second actions of a step already numbered (the archive's index is written by 'ar s').
_FOLLOW_UPS = ("RANLIB",)
COMPILE_COMS = (("CCCOM", "$CC"), ("CXXCOM", "$CXX"), ("ASPPCOM", "$CC"))
_QUERY_PREFIXES = ("list_", "config_info")


def use_colour() -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


@dataclass
class Progress:
    """Counters shared by the print, spawn and closing hooks (steps run in worker threads)."""

    verbose: bool
    colour: bool
    prefixes: tuple[str, ...]  # path prefixes removed from labels (gen dir, TFLM root, cwd)
    gen: Path
    total: int = 0
    done: int = 0
    retrieved: set[tuple[int, tuple[int, ...]]] = field(default_factory=set)  # steps taken from the CacheDir
    last_line: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)

    def shorten(self, text: str) -> str:
        for prefix in self.prefixes:
            text = text.replace(prefix, "")
        return text

    def write(self, text: str) -> None:
        """Write whole lines under the lock, so parallel steps never mix their output."""
        with self.lock:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()
            self.last_line = text.rstrip("\n").splitlines()[-1] if text.strip() else self.last_line

    def step(self, text: str, targets: Sequence[Any]) -> None:
        """One numbered line for a step about to run; called by SCons before each action."""
        if text.startswith(_FOLLOW_UPS):
            return
        if text.startswith("Retrieved `"):  # SCons's CacheDir message, once per file: say it once per step
            # siblings of one step (a .cc and its .h) share builder and sources
            step = (id(targets[0].builder), tuple(map(id, targets[0].sources))) if targets else (0, ())
            with self.lock:
                if step in self.retrieved:
                    return
                self.retrieved.add(step)
            text = "CACHED " + text[len("Retrieved `"):].split("'", 1)[0]
        with self.lock:
            self.done += 1
            width = len(str(max(self.total, self.done)))
            line = f"[{self.done:>{width}}/{max(self.total, self.done)}] {self.shorten(text) if not self.verbose else text}"
        self.local.line = line
        self.write(line)

    def command_output(self, command: str, status: int, output: str) -> None:
        """A finished command's own output, once and in full, under its step line."""
        if not output.strip() and status == 0:
            return
        step = getattr(self.local, "line", "")
        head = "" if self.last_line == step or not step else step + "\n"
        if status != 0:
            head += _paint("FAILED:", "1;31", self.colour) + f" {command}\n"
        self.write(head + output)


def _spawn(progress: Progress) -> Any:
    """SPAWN replacement: run through the shell as SCons does, but capture the output."""

    def spawn(sh: str, escape: Any, cmd: str, args: list[str], env: dict[str, Any]) -> int:
        command = " ".join(args)
        environ = {k: os.pathsep.join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for k, v in env.items()}
        proc = subprocess.run([sh, "-c", command], env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        progress.command_output(command, proc.returncode, proc.stdout.decode(errors="replace"))
        return proc.returncode

    return spawn


def _prints(action: Any) -> bool:
    """Whether an action prints a line when it runs (function actions made with strfunction None do not)."""
    if hasattr(action, "list"):
        return any(_prints(a) for a in action.list)
    return getattr(action, "cmdstr", True) is not None  # a generator (the object builders') makes a printing one


def pending_steps(roots: Iterable[Any]) -> int:
    """How many printing steps the build of ``roots`` will run.

    A node is dirty if a child is dirty or it is out of date.  ``is_up_to_date``
    is asked only of nodes whose whole subtree is clean, so every signature it
    computes (and SCons memoizes) is one the build itself would compute.
    """
    import SCons.Node.Alias

    dirty: dict[Any, bool] = {}
    counted: set[int] = set()

    def visit(node: Any) -> bool:
        if node in dirty:
            return dirty[node]
        dirty[node] = False  # a cycle is SCons's to report
        children = [visit(child) for child in node.children()]
        result = any(children)
        if node.has_builder() and not isinstance(node, SCons.Node.Alias.Alias):  # an alias only groups
            if not result:
                result = bool(node.always_build) or not node.is_up_to_date()
            executor = node.get_executor()
            if result and id(executor) not in counted and any(_prints(a) for a in executor.get_action_list()):
                counted.add(id(executor))
        dirty[node] = result
        return result

    for root in roots:
        visit(root)
    return len(counted)


def _nodes(goals: Iterable[Any]) -> list[Any]:
    """Goal names as SCons resolves them on the command line: an alias, else a file or folder."""
    import SCons.Node
    import SCons.Node.FS

    nodes = []
    for goal in goals:
        node = goal if isinstance(goal, SCons.Node.Node) else None
        for lookup in SCons.Node.arg2nodes_lookups if node is None else ():
            node = lookup(goal, curdir=os.getcwd())
            if node is not None:
                break
        nodes.append(node or SCons.Node.FS.get_default_fs().Entry(goal))
    return nodes


def _relative(path: Path) -> str:
    """``path`` as SCons prints it: relative to the working folder when inside it."""
    return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)


def _goal_names(targets: Iterable[Any]) -> list[str]:
    return [os.path.basename(str(t)) for t in targets]


def generate(env: Any) -> None:
    """Install the labels, the counter, the capturing spawn and the closing line ($TFLM_VERBOSE,
    paths shortened below $TFLM_GEN and $TFLM_TREE)."""
    from SCons.Script import Progress as SconsProgress

    verbose, gen, tflm = bool(env["TFLM_VERBOSE"]), Path(env["TFLM_GEN"]), Path(env["TFLM_TREE"])
    colour = use_colour()
    prefixes = tuple(dict.fromkeys(f"{p}/" for p in (gen, gen.resolve(), tflm, _relative(tflm), Path.cwd())))
    progress = Progress(verbose=verbose, colour=colour, prefixes=prefixes, gen=gen)
    if not verbose:
        for var, label, node in LABELS:
            env[var] = f"{label:<5} {node}"
    else:
        env["TFLM_BIN_COMSTR"] = "$OBJCOPY -O binary $SOURCE $TARGET"
        env["TFLM_GEN_COMSTR"] = "GEN   $TARGET"
        env["RANLIBCOMSTR"] = "RANLIB $TARGET"
    env["PRINT_CMD_LINE_FUNC"] = lambda text, target, source, env: progress.step(text, target)
    env["SPAWN"] = _spawn(progress)
    env["TFLM_DIAG_FLAGS"] = "-fdiagnostics-color=always" if colour else ""
    for com, compiler in COMPILE_COMS:
        env[com] = env[com].replace(f"{compiler} ", f"{compiler} $( $TFLM_DIAG_FLAGS $) ", 1)
    SconsProgress(_Starter(progress))


class _Starter:
    """SCons's Progress callback: on the first node of the build phase, count the steps and arm the closing line.

    Progress runs in the build phase, after every goal is known and before the
    first action; the closing hook registered here runs before the test
    summary's (atexit is last-in, first-out), so 'N passed, N failed' stays last.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.armed = False

    def __call__(self, node: Any) -> None:
        if self.armed:
            return
        self.armed = True
        from SCons.Script import BUILD_TARGETS, GetOption

        goals = _goal_names(BUILD_TARGETS)
        if GetOption("clean") or all(g.startswith(_QUERY_PREFIXES) for g in goals):
            return
        self.progress.total = pending_steps(_nodes(BUILD_TARGETS))
        atexit.register(self.closing_line, goals)

    def closing_line(self, goals: list[str]) -> None:
        import SCons.Script
        from SCons.Script import GetBuildFailures, GetOption

        p = self.progress
        seconds = time.time() - SCons.Script.start_time  # the whole run: reading the build files too
        failures = GetBuildFailures()
        where = str(p.gen)
        if failures:
            names = ", ".join(p.shorten(str(f.node)) for f in failures[:3]) + (" ..." if len(failures) > 3 else "")
            text = f"tflm-build: FAILED {', '.join(goals)}: {len(failures)} step(s) failed ({names}); " \
                   f"{p.done} of {p.total} steps run in {seconds:.1f} s with -j{GetOption('num_jobs')}"
            p.write(_paint(text, "1;31", p.colour))
            return
        did = f"built ({p.done} step{'s' if p.done != 1 else ''})" if p.done else "nothing to rebuild"
        p.write(_paint(f"tflm-build: {', '.join(goals)}: {did} in {where}/ in {seconds:.1f} s "
                       f"with -j{GetOption('num_jobs')}", "32", p.colour))


def exists(env: Any) -> bool:
    return True
