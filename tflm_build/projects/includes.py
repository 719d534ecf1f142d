"""The ``#include`` closure of a project's files, cached by each file's stamp (:mod:`tflm_build.filestamp`)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..files import write_atomic
from ..filestamp import trusted_stamp

_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*[<"]([^>"\n]+)[>"]', re.M)


class IncludeScanner:
    """The ``#include`` closure of the project's files, so no header the sources need is left out.

    Conditional includes are followed too (a superset is harmless); names that resolve
    nowhere in the known trees are system headers.  Each file's include list is cached
    by its stamp in ``gen/<config>/prj/.includes.json``, so an unchanged tree costs
    one stat per file.
    """

    def __init__(self, cache: Path) -> None:
        self.cache_path = cache
        try:
            self.cache: dict[str, list[Any]] = json.loads(cache.read_text())
        except (FileNotFoundError, ValueError):
            self.cache = {}
        self.dirty = False

    def includes(self, path: Path | str) -> tuple[list[str], list[str]]:
        """The quoted and the angled ``#include`` names of a file ([] for a file that is not there)."""
        key = str(path)
        stamp = trusted_stamp(key)
        hit = self.cache.get(key)
        if stamp is not None and hit and hit[0] == list(stamp):
            return hit[1], hit[2]
        try:
            with open(key, "rb") as stream:
                text = stream.read()
        except OSError:
            return [], []
        quoted: list[str] = []
        angled: list[str] = []
        for match in _INCLUDE.finditer(text):
            line_start = text.rfind(b"\n", 0, match.start()) + 1
            bracket = text[line_start:match.end()].rstrip()[-1:]
            (angled if bracket == b">" else quoted).append(match.group(1).decode(errors="replace").strip())
        if stamp is not None:
            self.cache[key] = [list(stamp), quoted, angled]
            self.dirty = True
        return quoted, angled

    def closure(self, start: Iterable[Path], include_dirs: Sequence[Path], roots: Sequence[Path],
                generated: set[str]) -> list[Path]:
        """Every file reachable from ``start`` by includes inside ``roots``.  Paths are plain strings
        inside the loop: it runs for every file of a project on each regeneration."""
        dirs = [str(d) for d in include_dirs]
        tops = tuple(str(r).rstrip(os.sep) + os.sep for r in roots)
        seen: set[str] = set()
        todo = [str(p) for p in start]
        found: list[str] = []
        resolved: dict[tuple[str, str | None], str | None] = {}  # most names are included many times
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            found.append(path)
            if path.endswith((".tflite", ".bmp", ".wav", ".csv")) or not os.path.splitext(path)[1]:
                continue
            quoted, angled = self.includes(path)
            parent = os.path.dirname(path)
            for name, local in [(q, True) for q in quoted] + [(a, False) for a in angled]:
                if name in generated:
                    continue
                key = (name, parent if local else None)
                if key not in resolved:
                    resolved[key] = resolve_include(name, key[1], dirs)
                hit = resolved[key]
                if hit is not None and hit.startswith(tops):
                    todo.append(hit)
        if self.dirty:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.cache_path, json.dumps(self.cache))
        return [Path(p) for p in found]


def resolve_include(name: str, local: str | None, include_dirs: Sequence[str]) -> str | None:
    """The file ``#include name`` names: in the includer's folder (quoted includes) then the include dirs."""
    for folder in ([local] if local is not None else []) + list(include_dirs):
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    return None
