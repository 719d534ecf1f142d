"""Tool: a build killed at any point (kill -9, power loss, a full disk) leaves no output that is trusted.

SCons records what it built in its signature file once, at the end of a run.
A killed run therefore leaves files on disk that no signature describes: a
truncated object, a half-written archive, or a complete object of an edited
source whose edit was then undone, which the *old* signature would call up to
date.  So before a target's action runs, its path is appended to the journal
``gen/<config>/.inflight`` (one unbuffered write, which survives the process
being killed).  Once SCons has written its signature file, the outputs of steps
that failed (or were interrupted) are removed and the journal is deleted.  A run
that finds a journal removes every file it names before deciding anything, so
each one is built again.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .exactsig import after_signatures_written

JOURNAL = ".inflight"


class _Journal:
    """The targets this run started, and the journal file that outlives a killed run."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.root: Path | None = None
        self.fd: int | None = None
        self.started: list[Any] = []

    def recover(self, gen: Path, root: Path) -> None:
        """Remove what an interrupted run of this configuration had started, then forget it."""
        self.path, self.root = gen / JOURNAL, root.resolve()
        try:
            names = self.path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return
        removed = 0
        for name in dict.fromkeys(names):
            path = Path(name)
            if path.is_absolute() and path.resolve().is_relative_to(self.root) and path.is_file():
                path.unlink()
                removed += 1
        self.path.unlink()
        if removed:
            print(f"tflm-build: the last build in {gen} was interrupted; rebuilding the {removed} output(s) "
                  f"it had started", file=sys.stderr)

    def start(self, node: Any) -> None:
        if self.path is None:
            return
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(self.fd, (node.get_abspath() + "\n").encode())
        self.started.append(node)

    def finish(self) -> None:
        """After the signature file is written: drop the outputs of failed steps, delete the journal."""
        import SCons.Node

        if self.fd is None or self.path is None:
            return
        for node in self.started:
            if node.get_state() == SCons.Node.failed:
                Path(node.get_abspath()).unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None
        self.path.unlink(missing_ok=True)


JOURNAL_STATE = _Journal()


def _install() -> None:
    import SCons.Node
    import SCons.Node.FS

    prepare = SCons.Node.FS.File.prepare
    if getattr(prepare, "tflm_hooked", False):
        return

    def journaled_prepare(node: Any) -> None:
        prepare(node)
        # Precious outputs (a project's manifest) are kept and updated by their own writer, atomically.
        if node.get_state() != SCons.Node.up_to_date and node.is_derived() and not node.precious:
            JOURNAL_STATE.start(node)

    journaled_prepare.tflm_hooked = True  # type: ignore[attr-defined]
    SCons.Node.FS.File.prepare = journaled_prepare  # type: ignore[method-assign]
    after_signatures_written(JOURNAL_STATE.finish)


def generate(env: Any) -> None:
    """Journal in $TFLM_GEN; $TFLM_GEN_ROOT (GEN_DIR): a journal line outside it is never acted on.

    Archives are written under a temporary name and renamed: ``ar`` updates an
    existing archive in place, so a half-written one must never be the target.
    """
    from SCons.Script import GetOption

    env["ARCOM"] = "rm -f ${TARGET}.tmp && $AR $ARFLAGS ${TARGET}.tmp $SOURCES && mv -f ${TARGET}.tmp $TARGET"
    if GetOption("no_exec"):  # a dry run writes no signatures: nothing to journal
        return
    _install()
    JOURNAL_STATE.recover(Path(env["TFLM_GEN"]), Path(env["TFLM_GEN_ROOT"]))


def exists(env: Any) -> bool:
    return True
