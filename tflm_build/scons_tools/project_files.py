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

The manifest keeps the SHA-256 of every file written.  A file whose bytes
differ from that (the user edited it), or a file at a generated path that we
did not write, is never overwritten or removed: it is renamed to
``<file>.user`` first and a line names it.  ``scons -c generate_..._project``
removes only the files we wrote and nobody changed, and lists what it kept.
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
from ..filestamp import stamp, trusted_stamp

COPY, ARRAY_CC, ARRAY_H, TEXT, REWRITE = "copy", "array_cc", "array_h", "text", "rewrite"
_INCLUDE = re.compile(rb'^([ \t]*#[ \t]*include[ \t]*[<"])([^>"\n]+)([>"])', re.M)
_MANIFEST_VERSION = 2


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
        return f"{_input_stamp(self.source)}:{self.text}"

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


def _input_stamp(path: str) -> str:
    """An input's stamp; a file written within the racy window is stamped by its content instead."""
    trusted = trusted_stamp(path)
    return ":".join(map(str, trusted)) if trusted is not None else "sha256:" + _sha256(Path(path))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Record:
    """What the manifest says we wrote at ``dest``: the input signature and the file's hash (and stamp)."""

    signature: str
    sha256: str
    stamp: list[int] | None  # trusted stamp taken when the hash was, so an unchanged file is not read again

    def state(self, path: Path) -> str:
        """'missing', 'ours' (as we wrote it) or 'changed' (edited since)."""
        current = stamp(path)
        if current is None:
            return "missing"
        if self.stamp is not None and list(current) == self.stamp:
            return "ours"
        return "ours" if _sha256(path) == self.sha256 else "changed"

    @staticmethod
    def of(path: Path, signature: str) -> "Record":
        trusted = trusted_stamp(path)
        return Record(signature, _sha256(path), list(trusted) if trusted is not None else None)


def load_manifest(plan: Plan) -> dict[str, Record]:
    """dest -> Record as written by the last generation ({} if none or of another format)."""
    try:
        data = json.loads(plan.manifest.read_text())
        if data.get("version") != _MANIFEST_VERSION:
            return {}
        return {dest: Record(*rec) for dest, rec in data["files"].items()}
    except (FileNotFoundError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _save_manifest(plan: Plan, records: dict[str, Record]) -> None:
    data = {dest: [r.signature, r.sha256, r.stamp] for dest, r in records.items()}
    write_atomic(plan.manifest, json.dumps({"version": _MANIFEST_VERSION, "files": data}, indent=0, sort_keys=True))


def outputs_changed(plan: Plan) -> bool:
    """True when a generated file was deleted or edited since it was written (SCons cannot see that).

    Files found unchanged get a trusted stamp in the manifest, so the next check reads none of them.
    """
    old = load_manifest(plan)
    if not old:
        return True
    states = {e.dest: old[e.dest].state(plan.folder / e.dest) if e.dest in old else "missing" for e in plan.entries}
    if any(state != "ours" for state in states.values()):
        return True
    if any(old[d].stamp is None for d in states):
        _save_manifest(plan, {d: Record.of(plan.folder / d, r.signature) if d in states and r.stamp is None else r
                              for d, r in old.items()})
    return False


def _produce(entry: Entry, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = entry.content()
    if data is None:
        shutil.copyfile(entry.source, path)
    else:
        path.write_bytes(data)


def _set_aside(path: Path) -> Path:
    """Rename a file the user changed (or that we did not write) to <name>.user[.N] and say so."""
    keep = path.with_name(path.name + ".user")
    n = 1
    while keep.exists():
        keep, n = path.with_name(f"{path.name}.user.{n}"), n + 1
    os.replace(path, keep)
    print(f"tflm-build: {path} was changed since it was generated: your version is kept as {keep.name}")
    return keep


def write(plan: Plan) -> tuple[int, int]:
    """Bring the folder up to date with the plan; returns (files written, files removed).

    A file the user edited (or put where a generated file goes) is never overwritten or
    removed: it is renamed to ``<file>.user`` first, and a line says so.
    """
    old = load_manifest(plan)
    states = {e.dest: old[e.dest].state(plan.folder / e.dest) if e.dest in old
              else ("missing" if not (plan.folder / e.dest).exists() else "changed") for e in plan.entries}
    todo = [e for e in plan.entries if states[e.dest] != "ours" or old[e.dest].signature != e.signature()]
    stage = plan.folder.with_name(f".{plan.folder.name}.staging")
    if stage.exists():
        shutil.rmtree(stage)
    for entry in todo:
        _produce(entry, stage / entry.dest)
    if not plan.folder.exists():
        plan.folder.parent.mkdir(parents=True, exist_ok=True)
        stage.rename(plan.folder)
    else:
        for entry in todo:
            dest = plan.folder / entry.dest
            if states[entry.dest] == "changed":
                _set_aside(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / entry.dest, dest)
        if stage.exists():  # nothing to write (an input touched, not changed): no staging folder
            shutil.rmtree(stage)
    wanted = {e.dest for e in plan.entries}
    stale = [d for d in old if d not in wanted]
    for name in stale:
        path = plan.folder / name
        if old[name].state(path) == "changed":
            _set_aside(path)
        path.unlink(missing_ok=True)
        _prune_empty(path.parent, plan.folder)
    written = {e.dest for e in todo}
    _save_manifest(plan, {e.dest: Record.of(plan.folder / e.dest, e.signature()) if e.dest in written
                          else old[e.dest] for e in plan.entries})
    return len(todo), len(stale)


def clean(plan: Plan) -> None:
    """``scons -c``: remove the files we wrote and nobody changed; keep edited and added files, and say which."""
    old = load_manifest(plan)
    removed = 0
    for dest, record in old.items():
        path = plan.folder / dest
        if record.state(path) == "ours":
            path.unlink()
            removed += 1
            _prune_empty(path.parent, plan.folder)
    plan.manifest.unlink(missing_ok=True)
    kept = sorted(p.relative_to(plan.folder).as_posix() for p in plan.folder.rglob("*") if p.is_file()) \
        if plan.folder.is_dir() else []
    if not kept and plan.folder.is_dir():
        shutil.rmtree(plan.folder)
    print(f"tflm-build: removed {removed} generated file(s) from {plan.folder}"
          + (f"; kept {len(kept)} you changed or added: {', '.join(kept[:10])}{' ...' if len(kept) > 10 else ''}"
             if kept else ""))


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

        Its one source is a Value of the plan and of every input's stamp, the rule
        Entry.signature() applies when writing: five hundred File nodes for SCons to check
        would be most of a no-change regeneration.
        """
        from SCons.Script import GetOption

        stats = hashlib.sha1()
        for path in inputs:
            stats.update(f"{path}\0{_input_stamp(path)}\n".encode())
        node = builder(env, str(plan.manifest), [env.Value(plan.digest() + stats.hexdigest())],
                       TFLM_PROJECT_PLAN=plan)
        env.Precious(node)  # SCons must not delete the manifest before the action reads it
        if GetOption("clean"):
            if not GetOption("no_exec"):
                clean(plan)
        elif outputs_changed(plan):
            env.AlwaysBuild(node)
        return node

    env.AddMethod(tflm_project, "TflmProject")


def exists(env: Any) -> bool:
    """Rendering needs jinja2 (a dependency of the package; absent only in a broken install)."""
    import importlib.util

    return importlib.util.find_spec("jinja2") is not None
