"""Turning a downloaded archive into a source tree: safe extraction and patching.

Extraction trusts nothing in the archive.  Every member is checked *before*
anything is written: no absolute names, no ``..`` components, no device or
FIFO members, no links whose target leaves the tree, no member whose path runs
through a symbolic link, and a ceiling on the total expanded size (2 GiB unless
told otherwise).  Symbolic links are created last, so no write can follow one.
Python's own ``tarfile`` "data" filter does much of this for tar only; zip
needs the same rules, so both go through one checker.

Patches are applied by a small pure-Python unified-diff applier rather than
the ``patch`` program: the build must work where ``patch`` is missing
(Windows), and we want exact behaviour everywhere.  Like TFLM's
``git apply --ignore-whitespace``, a hunk whose context differs only in
whitespace still applies; unlike ``patch``, there is no fuzz: every context
line must be present, or the dependency is refused.
"""
from __future__ import annotations

import hashlib
import lzma
import os
import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, IO, Iterator

from ..errors import FetchError

DEFAULT_MAX_SIZE = 2 << 30  # 2 GiB expanded
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One archive entry after the prefix was stripped and the name checked."""

    path: str  # relative, forward slashes, no '..'
    kind: str  # "file", "dir", "symlink" or "hardlink"
    size: int
    mode: int
    link: str = ""  # symlink target text, or hardlink's member path
    opener: Callable[[], IO[bytes]] | None = None


def _refuse(archive: Path, member: str, why: str) -> FetchError:
    return FetchError(f"refusing unsafe archive member '{member}': {why}", file=archive,
                      fix="the archive is corrupt or malicious; delete it and fetch from a trusted source")


def _clean_name(archive: Path, raw: str) -> str:
    """Check a member name and return it normalised; raise on anything unsafe."""
    if "\\" in raw or "\0" in raw:
        raise _refuse(archive, raw, "backslash or NUL in the name")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise _refuse(archive, raw, "absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(archive, raw, "'..' path component")
    return "/".join(parts)


def _strip(name: str, prefix: str | None) -> str | None:
    """Return ``name`` below ``prefix``, '' for the prefix itself, None when outside it."""
    if not prefix:
        return name
    if name == prefix:
        return ""
    if name.startswith(prefix + "/"):
        return name[len(prefix) + 1:]
    return None


def _zip_members(archive: Path, handle: zipfile.ZipFile, prefix: str | None) -> Iterator[Member]:
    for info in handle.infolist():
        name = _clean_name(archive, info.filename)
        rel = _strip(name, prefix)
        if not rel:
            continue
        mode = (info.external_attr >> 16) if info.create_system == 3 else 0
        if info.is_dir() or stat.S_ISDIR(mode):
            yield Member(rel, "dir", 0, 0o755)
        elif stat.S_ISLNK(mode):
            yield Member(rel, "symlink", 0, 0o777, handle.read(info).decode("utf-8", "surrogateescape"))
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # no type bits: a plain file
            raise _refuse(archive, info.filename, "device, FIFO or socket")
        else:
            yield Member(rel, "file", info.file_size, mode & 0o777,
                         opener=lambda info=info: handle.open(info))


def _tar_members(archive: Path, handle: tarfile.TarFile, prefix: str | None) -> Iterator[Member]:
    for info in handle.getmembers():
        name = _clean_name(archive, info.name)
        rel = _strip(name, prefix)
        if not rel:
            continue
        if info.isdir():
            yield Member(rel, "dir", 0, 0o755)
        elif info.issym():
            yield Member(rel, "symlink", 0, 0o777, info.linkname)
        elif info.islnk():
            target = _strip(_clean_name(archive, info.linkname), prefix)
            if not target:
                raise _refuse(archive, info.name, f"hard link to '{info.linkname}' outside the tree")
            yield Member(rel, "hardlink", 0, info.mode & 0o777, target)
        elif info.isreg():
            yield Member(rel, "file", info.size, info.mode & 0o777,
                         opener=lambda info=info: handle.extractfile(info))  # type: ignore[arg-type,return-value]
        else:
            raise _refuse(archive, info.name, "device, FIFO or other special file")


def _check(archive: Path, members: list[Member], max_size: int) -> list[Member]:
    """Validate links and size over the whole member list; return the last entry per path."""
    final: dict[str, Member] = {}
    for member in members:
        final[member.path] = member
    links = {m.path for m in final.values() if m.kind == "symlink"}
    total = 0
    for member in final.values():
        parts = member.path.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in links:
                raise _refuse(archive, member.path, "path runs through a symbolic link")
        if member.kind == "symlink":
            target = member.link
            if not target or target.startswith("/") or re.match(r"^[A-Za-z]:", target) or "\\" in target:
                raise _refuse(archive, member.path, f"symbolic link to absolute or odd target '{target}'")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member.path), target))
            if resolved == ".." or resolved.startswith("../"):
                raise _refuse(archive, member.path, f"symbolic link '{target}' points outside the tree")
        if member.kind == "hardlink":
            source = final.get(member.link)
            if source is None or source.kind != "file":
                raise _refuse(archive, member.path, f"hard link to '{member.link}', not a file in the tree")
        total += member.size
        if total > max_size:
            raise FetchError(f"archive expands to more than {max_size} bytes", file=archive,
                             fix="raise the limit (max_size) if this dependency is really that large")
    return list(final.values())


def extract(archive: Path, dest: Path, strip_prefix: str | None = None,
            max_size: int = DEFAULT_MAX_SIZE) -> dict[str, str]:
    """Extract ``archive`` (zip, tar, tar.gz/bz2/xz) into the new folder ``dest``.

    Only members below ``strip_prefix`` are extracted, with that prefix
    removed.  ``dest`` must not exist; on any error it may hold a partial tree
    that the caller deletes (the fetcher always extracts into a temporary name).
    Returns the SHA-256 of every file and link written, by relative path, so
    the tree hash needs no second read (see :func:`treehash.hash_digests`).
    """
    prefix = strip_prefix.strip("/") if strip_prefix else None
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                return _write(archive, list(_zip_members(archive, handle, prefix)), dest, prefix, max_size)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as handle:
                return _write(archive, list(_tar_members(archive, handle, prefix)), dest, prefix, max_size)
        else:
            raise FetchError("not a zip or tar archive", file=archive,
                             fix="check the URL: it may serve an HTML error page")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        if isinstance(exc, FetchError):
            raise
        raise FetchError(f"corrupt archive: {exc}", file=archive,
                         fix="delete it and download it again") from None


def _write(archive: Path, members: list[Member], dest: Path, prefix: str | None, max_size: int) -> dict[str, str]:
    checked = _check(archive, members, max_size)
    if not checked:
        where = f" below '{prefix}/'" if prefix else ""
        raise FetchError(f"archive holds no files{where}", file=archive,
                         fix="check strip_prefix against the archive's top folder")
    dest.mkdir(parents=True)
    made = {dest}
    digests: dict[str, str] = {}
    written = 0
    for member in sorted(checked, key=lambda m: m.kind == "symlink"):
        target = dest / member.path
        if member.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            made.add(target)
            continue
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        if member.kind == "symlink":
            os.symlink(member.link, target)
            digests[member.path] = hashlib.sha256(os.fsencode(member.link)).hexdigest()
            continue
        if member.kind == "hardlink":
            shutil.copyfile(dest / member.link, target)
            digests[member.path] = digests[member.link]
        else:
            assert member.opener is not None
            digest = hashlib.sha256()
            with member.opener() as source, open(target, "wb") as sink:
                while chunk := source.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > max_size:
                        raise FetchError(f"archive expands to more than {max_size} bytes", file=archive,
                                         fix="raise the limit (max_size) if this dependency is really that large")
                    digest.update(chunk)
                    sink.write(chunk)
            digests[member.path] = digest.hexdigest()
        os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)
    return digests


# ---------------------------------------------------------------- patching

@dataclass
class _Hunk:
    old_start: int
    ops: list[tuple[str, str]]  # (" " | "-" | "+", line with its end of line)

    @property
    def old(self) -> list[str]:
        return [line for tag, line in self.ops if tag != "+"]


@dataclass
class _FilePatch:
    old_path: str | None  # None for a new file
    new_path: str | None  # None for a deleted file
    hunks: list[_Hunk]


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _diff_path(raw: str, strip: int) -> str | None:
    name = raw.split("\t")[0].strip()
    if name == "/dev/null":
        return None
    parts = name.split("/")
    if len(parts) <= strip:
        raise ValueError(f"cannot strip {strip} components from '{name}'")
    return "/".join(parts[strip:])


def parse_patch(text: str, strip: int) -> list[_FilePatch]:
    """Parse a unified diff (git or plain) into per-file hunks."""
    lines = text.splitlines(keepends=True)
    files: list[_FilePatch] = []
    i = 0
    while i < len(lines):
        if not (lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")):
            i += 1
            continue
        current = _FilePatch(_diff_path(lines[i][4:], strip), _diff_path(lines[i + 1][4:], strip), [])
        files.append(current)
        i += 2
        while i < len(lines) and (match := _HUNK.match(lines[i])):
            old_left = int(match.group(2)) if match.group(2) is not None else 1
            new_left = int(match.group(4)) if match.group(4) is not None else 1
            hunk = _Hunk(int(match.group(1)), [])
            i += 1
            while (old_left or new_left) and i < len(lines):
                line = lines[i]
                tag = line[:1]
                if tag in ("\n", "\r"):  # an empty context line whose space was trimmed
                    tag, line = " ", " " + line
                if tag not in (" ", "-", "+"):
                    raise ValueError(f"malformed hunk at line {i + 1}: {line!r}")
                hunk.ops.append((tag, line[1:]))
                old_left -= tag != "+"
                new_left -= tag != "-"
                i += 1
                if i < len(lines) and lines[i].startswith("\\"):  # "\ No newline at end of file"
                    hunk.ops[-1] = (tag, line[1:].rstrip("\r\n"))
                    i += 1
            current.hunks.append(hunk)
    if not files:
        raise ValueError("no file changes found")
    return files


def _squash(line: str) -> str:
    return "".join(line.split())


def _find(lines: list[str], old: list[str], hint: int) -> int | None:
    """Position of ``old`` in ``lines`` nearest to ``hint``: exact first, then ignoring whitespace."""
    span = len(lines) - len(old)
    if span < 0:
        return None
    hint = min(max(hint, 0), span)
    for same in (str.__eq__, lambda a, b: _squash(a) == _squash(b)):
        for delta in range(span + 1):
            for start in {hint + delta, hint - delta}:
                if 0 <= start <= span and all(same(a, b) for a, b in zip(lines[start:start + len(old)], old)):
                    return start
    return None


def _apply_hunks(text: str, hunks: list[_Hunk]) -> str | None:
    """Apply hunks in order; context lines keep the file's own text; None when one does not fit."""
    lines = text.splitlines(keepends=True)
    eol = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    offset = 0
    for hunk in hunks:
        start = _find(lines, hunk.old, hunk.old_start - 1 + offset)
        if start is None:
            return None
        cursor, replacement = start, []
        for tag, line in hunk.ops:
            if tag == " ":
                replacement.append(lines[cursor])
            elif tag == "+":
                replacement.append(line[:-1].rstrip("\r") + eol if line.endswith("\n") else line)
            cursor += tag != "+"
        lines[start:cursor] = replacement
        offset += len(replacement) - (cursor - start)
    return "".join(lines)


def apply_patch(tree: Path, patch_file: Path, strip: int = 1) -> None:
    """Apply ``patch_file`` to ``tree`` with ``patch -p<strip>`` semantics, all or nothing."""
    try:
        files = parse_patch(patch_file.read_text(encoding="utf-8", errors="surrogateescape"), strip)
    except (ValueError, OSError) as exc:
        raise FetchError(f"cannot read patch: {exc}", file=patch_file) from None
    results: dict[Path, str | None] = {}
    for change in files:
        old_name = change.old_path or change.new_path
        assert old_name is not None
        target = tree / _clean_name(patch_file, old_name)
        base = ""
        if change.old_path is not None:
            if not target.is_file():
                raise FetchError(f"patch changes '{old_name}', which the tree does not have", file=patch_file,
                                 fix="the patch does not match this version of the dependency")
            with open(target, encoding="utf-8", errors="surrogateescape", newline="") as stream:
                base = stream.read()  # newline="": keep CRLF files CRLF
        patched = _apply_hunks(base, change.hunks)
        if patched is None:
            raise FetchError(f"patch does not apply to '{old_name}'", file=patch_file,
                             fix="the patch does not match this version of the dependency")
        if change.new_path is None:
            results[target] = None
        else:
            results[tree / _clean_name(patch_file, change.new_path)] = patched
            if change.old_path is not None and change.old_path != change.new_path:
                results.setdefault(target, None)
    for path, content in results.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            mode = path.stat().st_mode if path.exists() else None
            path.write_text(content, encoding="utf-8", errors="surrogateescape", newline="")
            if mode is not None:
                os.chmod(path, stat.S_IMODE(mode))
