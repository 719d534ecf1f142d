"""Facts derived from files, remembered between runs and keyed by each file's stamp.

A no-op build must not re-read the TFLM tree: what model-aware selection
learns from a kernel file (the Register_ functions it defines, the kernel
headers it includes) or from a model (its operators) is stored in
``gen/.facts.json`` and recomputed for files whose stamp changed or was too
recent to trust (:mod:`tflm_build.filestamp`).
"""
from __future__ import annotations

import atexit
import json
from pathlib import Path
from typing import Any, Callable

from ..filestamp import trusted_stamp
from ..files import write_atomic


class FactCache:
    """get(file, kind, compute) returns compute(file), cached by (file, kind, stamp)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dirty = False
        try:
            self.data: dict[str, list[Any]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}
        atexit.register(self.save)

    def get(self, file: Path, kind: str, compute: Callable[[Path], Any]) -> Any:
        stamp = trusted_stamp(file)
        key = f"{kind}:{file}"
        entry = self.data.get(key)
        if stamp is not None and entry and entry[0] == list(stamp):
            return entry[1]
        value = compute(file)
        if stamp is not None:
            self.data[key] = [list(stamp), value]
            self.dirty = True
        return value

    def save(self) -> None:
        """Write atomically, once, at exit; a crash leaves the previous file intact."""
        if not self.dirty:
            return
        write_atomic(self.path, json.dumps(self.data))
        self.dirty = False
