"""Tool: ``env.TflmProject(manifest, sources, plan=...)`` writes a standalone project folder.

One SCons node per project (its manifest) depends on every input (sources,
model files, templates, and a digest of the rendered plan), so an unchanged
project costs SCons one up-to-date check.  When something changed, the action
compares each file of the plan with what the manifest recorded and rewrites
only the files whose input changed (an edited template rewrites only its own
outputs), then removes the files an earlier generation wrote that no longer
belong.  Files are written into a staging folder first and moved into place
only when all of them were produced, so a failure never leaves a half-written
project; a first generation renames the whole staged folder into place.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from SCons.Action import Action

from ..build import cc_arrays
from ..files import write_atomic

COPY, ARRAY_CC, ARRAY_H, TEXT, REWRITE = "copy", "array_cc", "array_h", "text", "rewrite"
_INCLUDE = re.compile(rb'^([ \t]*#[ \t]*include[ \t]*[<"])([^>"\n]+)([>"])', re.M)
_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Entry:
    """One file of a project: where it goes and how it is made."""

    dest: str  # path inside the project folder, '/'-separated
    how: str  # COPY, ARRAY_CC / ARRAY_H (model data from ``source``), TEXT (a rendered template), REWRITE
    source: str = ""  # absolute input path (COPY, ARRAY_*, REWRITE) or the template's path (TEXT)
    # TEXT: the rendered file; ARRAY_*: the include name of the array's header; REWRITE: JSON
    # {"include": {old name: new name}, "prepend": text} applied to a copy of ``source``
    text: str = ""

    def signature(self) -> str:
        """What the file's content depends on; a different value means rewrite it."""
        if self.how == TEXT:
            return hashlib.sha1(self.text.encode()).hexdigest()
        st = os.stat(self.source)
        return f"{st.st_mtime_ns}:{st.st_size}:{self.text}"

    def content(self) -> bytes | None:
        """The bytes to write, or None for a plain copy of ``source``."""
        if self.how == TEXT:
            return self.text.encode()
        if self.how in (ARRAY_CC, ARRAY_H):
            cc, h = cc_arrays.render(cc_arrays.make_array(Path(self.source)), self.text)
            return (cc if self.how == ARRAY_CC else h).encode()
        if self.how == REWRITE:
            return rewrite(Path(self.source).read_bytes(), json.loads(self.text))
        return None


def rewrite(data: bytes, spec: dict[str, Any]) -> bytes:
    """A source with the ``#include`` names of ``spec["include"]`` replaced and ``spec["prepend"]`` put first."""
    names: dict[bytes, bytes] = {old.encode(): new.encode() for old, new in spec.get("include", {}).items()}

    def renamed(match: re.Match[bytes]) -> bytes:
        name = match.group(2)
        return match.group(1) + names.get(name, name) + match.group(3)

    return str(spec.get("prepend", "")).encode() + _INCLUDE.sub(renamed, data)


@dataclass(frozen=True)
class Plan:
    """A whole project: its folder, its manifest (outside the folder) and its files."""

    folder: Path
    manifest: Path
    entries: tuple[Entry, ...]

    def digest(self) -> str:
        """Changes when a file is added, removed, moved or a rendered template changes."""
        h = hashlib.sha1()
        for e in self.entries:
            h.update(f"{e.dest}\0{e.how}\0{e.source}\0".encode())
            h.update((hashlib.sha1(e.text.encode()).hexdigest() if e.how == TEXT else e.text).encode() + b"\n")
        return h.hexdigest()


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_mtime_ns, st.st_size]


def load_manifest(plan: Plan) -> dict[str, list[Any]]:
    """dest -> [signature, mtime_ns, size] as written by the last generation ({} if none)."""
    try:
        data = json.loads(plan.manifest.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data.get("files", {}) if data.get("version") == _MANIFEST_VERSION else {}


def outputs_changed(plan: Plan) -> bool:
    """True when a generated file was deleted or edited since it was written (SCons cannot see that)."""
    old = load_manifest(plan)
    if not old:
        return True
    return any(_stat(plan.folder / e.dest) != old.get(e.dest, [None])[1:] for e in plan.entries)


def _produce(entry: Entry, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = entry.content()
    if data is None:
        shutil.copyfile(entry.source, path)
    else:
        path.write_bytes(data)


def write(plan: Plan) -> tuple[int, int]:
    """Bring the folder up to date with the plan; returns (files written, files removed)."""
    old = load_manifest(plan)
    fresh = not plan.folder.exists() or not old
    todo = [e for e in plan.entries
            if fresh or old.get(e.dest, [None])[0] != e.signature()
            or _stat(plan.folder / e.dest) != old[e.dest][1:]]
    stage = plan.folder.with_name(f".{plan.folder.name}.staging")
    if stage.exists():
        shutil.rmtree(stage)
    for entry in todo:
        _produce(entry, stage / entry.dest)
    if fresh and (not plan.folder.exists() or not any(p.is_file() for p in plan.folder.rglob("*"))):
        if plan.folder.exists():
            shutil.rmtree(plan.folder)
        plan.folder.parent.mkdir(parents=True, exist_ok=True)
        stage.rename(plan.folder)
    else:
        for entry in todo:
            dest = plan.folder / entry.dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / entry.dest, dest)
        if stage.exists():  # nothing to write (an input touched, not changed): no staging folder
            shutil.rmtree(stage)
    wanted = {e.dest for e in plan.entries}
    stale = [d for d in old if d not in wanted]
    for name in stale:
        path = plan.folder / name
        path.unlink(missing_ok=True)
        _prune_empty(path.parent, plan.folder)
    record = {e.dest: [e.signature(), *(_stat(plan.folder / e.dest) or [])] for e in plan.entries}
    write_atomic(plan.manifest, json.dumps({"version": _MANIFEST_VERSION, "files": record}, indent=0, sort_keys=True))
    return len(todo), len(stale)


def _prune_empty(folder: Path, top: Path) -> None:
    while folder != top and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _action(target: list[Any], source: list[Any], env: Any) -> int:
    plan: Plan = env["TFLM_PROJECT_PLAN"]
    written, removed = write(plan)
    print(f"PRJ   {plan.folder} ({written} written, {removed} removed, {len(plan.entries)} files)")
    return 0


_ACTION = Action(_action, None)


def generate(env: Any, **_: Any) -> None:
    import SCons.Scanner

    builder = env.Builder(action=_ACTION, source_scanner=SCons.Scanner.ScannerBase(lambda *a: [], "none"))

    def tflm_project(env: Any, plan: Plan, inputs: Sequence[str]) -> Any:
        """Declare the project; returns its manifest node (the goal's alias points at it).

        Its one source is a Value of the plan and of every input's (mtime, size), the rule
        Entry.signature() applies when writing: five hundred File nodes for SCons to check
        would be most of a no-change regeneration.
        """
        stats = hashlib.sha1()
        for path in inputs:
            st = os.stat(path)
            stats.update(f"{path}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
        node = builder(env, str(plan.manifest), [env.Value(plan.digest() + stats.hexdigest())],
                       TFLM_PROJECT_PLAN=plan)
        env.Precious(node)  # SCons must not delete the manifest before the action reads it
        env.Clean(node, str(plan.folder))
        if outputs_changed(plan):
            env.AlwaysBuild(node)
        return node

    env.AddMethod(tflm_project, "TflmProject")


def exists(env: Any) -> bool:
    """Rendering needs jinja2 (a dependency of the package; absent only in a broken install)."""
    import importlib.util

    return importlib.util.find_spec("jinja2") is not None
