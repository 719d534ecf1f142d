"""Tool: every build decision from file contents, with a stat cache no edit can fool.

SCons's ``content-timestamp`` decider, and its ``max_drift`` shortcut for content
signatures, reuse a stored hash while the file's mtime equals the stored one, in
whole seconds: an edit within the second of the previous build goes unseen (the
object is not recompiled, or the program is relinked and its old test result kept).

Here every decision compares content signatures (the ``content`` decider), and a
file's signature is re-read unless its full stamp (see :mod:`tflm_build.filestamp`)
equals the one remembered when it was last hashed *and* that stamp was already
outside the racy window then.  The remembered signatures live in
``gen/<config>/.filesigs``, written after SCons's own signature file; losing it
(a killed build) only means hashing again.  A test result depends on its
program's signature, so it is rerun exactly when the binary's bytes changed.
"""
from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any, Callable

from ..files import write_atomic
from ..filestamp import RACY_WINDOW_NS, Stamp, stamp

_after_write: list[Callable[[], None]] = []


class _Signatures:
    """path -> (stamp, content signature) remembered from earlier runs, and what this run learnt."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.known: dict[str, tuple[Stamp, str]] = {}
        self.changed = False

    def load(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as f:
                known = pickle.load(f)
            self.known = known if isinstance(known, dict) else {}
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError):
            self.known = {}

    def csig(self, node: Any) -> str:
        """The content signature of a file node; '' lets SCons handle a missing file or a folder."""
        from SCons.Util import hash_file_signature

        path = node.get_abspath()
        now = time.time_ns()
        current = stamp(path)
        if current is None:
            self.known.pop(path, None)
            return ""
        hit = self.known.get(path)
        if hit is not None and hit[0] == current:
            return hit[1]
        try:
            csig = hash_file_signature(path, chunksize=65536)
        except OSError:
            return ""
        if now - max(current[0], current[1]) > RACY_WINDOW_NS:
            self.known[path] = (current, csig)
        else:
            self.known.pop(path, None)
        self.changed = True
        return csig

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        try:
            write_atomic(self.path, pickle.dumps(self.known, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # losing the remembered signatures only means hashing again next time


SIGNATURES = _Signatures()


def after_signatures_written(callback: Callable[[], None]) -> None:
    """Run ``callback`` right after SCons has written its signature file (also after a failed build)."""
    _after_write.append(callback)


def _install() -> None:
    """Patch SCons once: signatures from our cache, and a hook after its signature file is written."""
    import SCons.Node.FS
    import SCons.SConsign

    if getattr(SCons.SConsign.write, "tflm_hooked", False):
        return
    def get_max_drift_csig(node: Any) -> str:
        return SIGNATURES.csig(node)

    SCons.Node.FS.File.get_max_drift_csig = get_max_drift_csig  # type: ignore[method-assign]
    original = SCons.SConsign.write

    def write() -> None:
        original()
        SIGNATURES.save()
        for callback in _after_write:
            callback()

    write.tflm_hooked = True  # type: ignore[attr-defined]
    SCons.SConsign.write = write


def generate(env: Any) -> None:
    """Decide from contents; signatures remembered in $TFLM_GEN/.filesigs."""
    _install()
    SIGNATURES.load(Path(env["TFLM_GEN"]) / ".filesigs")
    env.Decider("content")


def exists(env: Any) -> bool:
    return True
