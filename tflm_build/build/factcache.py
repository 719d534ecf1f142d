"""Facts derived from files, remembered between runs and keyed by each file's mtime and size.

A no-op build must not re-read the TFLM tree: what model-aware selection
learns from a kernel file (the Register_ functions it defines, the kernel
headers it includes) or from a model (its operators) is stored in
``gen/.facts.json`` and recomputed only for files whose mtime or size changed.
"""
from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any, Callable

from ..files import write_atomic


class FactCache:
    """get(file, kind, compute) returns compute(file), cached by (file, kind, mtime, size)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dirty = False
        try:
            self.data: dict[str, list[Any]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}
        atexit.register(self.save)

    def get(self, file: Path, kind: str, compute: Callable[[Path], Any]) -> Any:
        try:
            st = os.stat(file)
        except OSError:
            return compute(file)
        key = f"{kind}:{file}"
        stamp = [st.st_mtime_ns, st.st_size]
        entry = self.data.get(key)
        if entry and entry[:2] == stamp:
            return entry[2]
        value = compute(file)
        self.data[key] = [*stamp, value]
        self.dirty = True
        return value

    def save(self) -> None:
        """Write atomically, once, at exit; a crash leaves the previous file intact."""
        if not self.dirty:
            return
        write_atomic(self.path, json.dumps(self.data))
        self.dirty = False
