"""Turning a downloaded archive into a source tree: safe extraction and patching.

Extraction trusts nothing in the archive.  Every member is checked *before*
anything is written: no absolute names, no ``..`` components, no control
characters or undecodable bytes in names, no device or FIFO members, no member
whose path runs through a symbolic link, and a ceiling on the total expanded
size (2 GiB unless told otherwise) that also counts link targets and headers.
Nothing is read unbounded: a zip link's target, a tar's long-name and pax
headers and the member count all have caps, since most dependencies pin no
archive checksum and this runs before the tree hash is known.

A symbolic link is judged by where it leads *on disk*, not by its text:
its target is resolved component by component through the archive's other
links (a link to the tree's root followed by ``that/../..`` leaves the tree
although its text looks inward), and it is refused when it leaves the tree or
when following folder links can go round in a circle (``l -> .``; ``a/l ->
../b`` with ``b/m -> ../a``), which would make every ``**`` glob endless.
Symbolic links are created last, so no write can follow one.  Python's own
``tarfile`` "data" filter does some of this for tar only; zip needs the same
rules, so both go through one checker.

Patches are applied by a small pure-Python unified-diff applier rather than
the ``patch`` program: the build must work where ``patch`` is missing
(Windows), and we want exact behaviour everywhere.  Like TFLM's
``git apply --ignore-whitespace``, a hunk whose context differs only in
whitespace still applies; unlike ``patch``, there is no fuzz: every context
line must be present, or the dependency is refused.  A patch never reads or
writes through a link that leads out of the tree it patches (a copied local
folder may hold such links: only archives are checked at extraction).
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
from typing import Any, Callable, IO, Iterable, Iterator, Mapping

from ..errors import FetchError, clip, shorten

DEFAULT_MAX_SIZE = 2 << 30  # 2 GiB expanded
MAX_MEMBERS = 200_000  # CMSIS, the largest tree we fetch, has ~30,000 members
_COPY_CHUNK = 1 << 20
_LINK_MAX = 4096  # PATH_MAX: the longest link target a file system takes
_HEADER_MAX = 1 << 20  # a tar long-name or pax header: names and link targets, never this large
_MAX_HOPS = 40  # links followed while resolving one path, as Linux's ELOOP limit
_HEADER_COST = 512  # what each member counts against the size cap besides its data


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
    return FetchError(f"refusing unsafe archive member {shorten(member)}: {why}", file=archive,
                      fix="the archive is corrupt or malicious; delete it and fetch from a trusted source")


def _odd(text: str) -> bool:
    """Backslashes, control characters (a newline breaks the tree hash's lines) or undecodable bytes."""
    return "\\" in text or any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def _too_large(archive: Path, max_size: int) -> FetchError:
    return FetchError(f"archive expands to more than {max_size} bytes", file=archive,
                      fix="raise the limit (max_size) if this dependency is really that large")


def _clean_name(archive: Path, raw: str) -> str:
    """Check a member name and return it normalised; raise on anything unsafe."""
    if _odd(raw):
        raise _refuse(archive, raw, "backslash, control character or undecodable byte in the name")
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


def _counted(archive: Path, infos: Iterator[Any]) -> Iterator[Any]:
    """The members, refusing an archive with more than MAX_MEMBERS (their headers alone fill memory)."""
    for count, info in enumerate(infos, 1):
        if count > MAX_MEMBERS:
            raise FetchError(f"archive has more than {MAX_MEMBERS} members", file=archive,
                             fix="the archive is corrupt or malicious; delete it and fetch from a trusted source")
        yield info


def _zip_link(archive: Path, handle: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """A zip link's target: the entry's content, read with a cap (its declared size may lie)."""
    with handle.open(info) as stream:
        data = stream.read(_LINK_MAX + 1)
    if len(data) > _LINK_MAX:
        raise _refuse(archive, info.filename, f"symbolic link target longer than {_LINK_MAX} bytes")
    return data.decode("utf-8", "surrogateescape")


def _zip_members(archive: Path, handle: zipfile.ZipFile, prefix: str | None) -> Iterator[Member]:
    for info in _counted(archive, iter(handle.infolist())):
        name = _clean_name(archive, info.filename)
        rel = _strip(name, prefix)
        if not rel:
            continue
        mode = (info.external_attr >> 16) if info.create_system == 3 else 0
        if info.is_dir() or stat.S_ISDIR(mode):
            yield Member(rel, "dir", 0, 0o755)
        elif stat.S_ISLNK(mode):
            target = _zip_link(archive, handle, info)
            yield Member(rel, "symlink", len(target), 0o777, target)
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # no type bits: a plain file
            raise _refuse(archive, info.filename, "device, FIFO or socket")
        else:
            yield Member(rel, "file", info.file_size, mode & 0o777,
                         opener=lambda info=info: handle.open(info))


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a GNU long name or a pax header whole into memory: refuse large ones first."""

    def _proc_gnulong(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        self._bound()
        return super()._proc_gnulong(tarfile)  # type: ignore[misc]

    def _proc_pax(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        self._bound()
        return super()._proc_pax(tarfile)  # type: ignore[misc]

    def _bound(self) -> None:
        if self.size > _HEADER_MAX:
            raise tarfile.HeaderError(f"extended header of {self.size} bytes (more than {_HEADER_MAX})")


def _tar_members(archive: Path, handle: tarfile.TarFile, prefix: str | None) -> Iterator[Member]:
    for info in _counted(archive, iter(handle)):
        name = _clean_name(archive, info.name)
        rel = _strip(name, prefix)
        if not rel:
            continue
        if info.isdir():
            yield Member(rel, "dir", 0, 0o755)
        elif info.issym():
            yield Member(rel, "symlink", len(info.linkname), 0o777, info.linkname)
        elif info.islnk():
            target = _strip(_clean_name(archive, info.linkname), prefix)
            if not target:
                raise _refuse(archive, info.name, f"hard link to {shorten(info.linkname)} outside the tree")
            yield Member(rel, "hardlink", 0, info.mode & 0o777, target)
        elif info.isreg():
            yield Member(rel, "file", info.size, info.mode & 0o777,
                         opener=lambda info=info: handle.extractfile(info))  # type: ignore[arg-type,return-value]
        else:
            raise _refuse(archive, info.name, "device, FIFO or other special file")


def _resolve(links: Mapping[str, str], folder: str, target: str) -> str | None:
    """Where ``target``, the text of a link in ``folder``, leads once extracted; None when it leaves the tree.

    Each component is taken as the kernel takes it: a component naming another
    link of the archive is replaced by that link's target (so ``..`` after it
    climbs from where that link leads, not from where its name sits), and a
    component the archive does not hold is taken as a folder (a later patch
    may create it).  Too many links followed counts as leaving: it is a cycle.
    """
    pending = target.split("/")[::-1]
    here = folder.split("/") if folder else []
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not here:
                return None
            here.pop()
            continue
        path = "/".join([*here, part])
        if path in links:
            hops += 1
            if hops > _MAX_HOPS:
                return None
            pending.extend(links[path].split("/")[::-1])
            continue
        here.append(part)
    return "/".join(here)


def _folder_link_cycle(folder_links: Mapping[str, str]) -> str | None:
    """A folder link from which following folder links comes back to it, if any.

    Link ``p`` leads to folder ``r``; walking into ``r`` reaches every link
    below ``r``.  A cycle in that "reaches" graph makes a walk that follows
    links endless (``l -> .`` reaches itself).
    """
    def below(link: str, folder: str) -> bool:
        return not folder or link.startswith(folder + "/")

    reaches = {p: [q for q in folder_links if below(q, r)] for p, r in folder_links.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in folder_links:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(reaches[start]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                return child
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(reaches[child])))
    return None


def _check(archive: Path, members: Iterable[Member], max_size: int) -> list[Member]:
    """Validate names, links and size over the whole member list; return the last entry per path.

    ``members`` is consumed lazily, so a tar member declaring 100 GB stops the
    listing at its header instead of after decompressing the stream past it.
    """
    final: dict[str, Member] = {}
    total = 0
    for member in members:
        final[member.path] = member
        total += member.size + _HEADER_COST
        if total > max_size:
            raise _too_large(archive, max_size)
    links = {m.path: m.link for m in final.values() if m.kind == "symlink"}
    folders = {""} | {m.path for m in final.values() if m.kind == "dir"}
    for path in final:
        parts = path.split("/")
        folders.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    folder_links: dict[str, str] = {}
    for member in final.values():
        parts = member.path.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in links:
                raise _refuse(archive, member.path, "path runs through a symbolic link")
        if member.kind == "symlink":
            target = member.link
            if not target or target.startswith("/") or re.match(r"^[A-Za-z]:", target) or _odd(target):
                raise _refuse(archive, member.path, f"symbolic link to absolute or odd target {shorten(target)}")
            resolved = _resolve(links, posixpath.dirname(member.path), target)
            if resolved is None:
                raise _refuse(archive, member.path,
                              f"symbolic link {shorten(target)} points outside the tree once the archive's "
                              f"links are followed (or goes round in a circle)")
            if resolved in folders:
                folder_links[member.path] = resolved
        if member.kind == "hardlink":
            source = final.get(member.link)
            if source is None or source.kind != "file":
                raise _refuse(archive, member.path, f"hard link to {shorten(member.link)}, not a file in the tree")
    looping = _folder_link_cycle(folder_links)
    if looping is not None:
        raise _refuse(archive, looping, f"symbolic link to folder '{folder_links[looping] or '.'}' makes a "
                                        f"directory loop")
    return list(final.values())


def extract(archive: Path, dest: Path, strip_prefix: str | None = None,
            max_size: int = DEFAULT_MAX_SIZE) -> dict[str, str]:
    """Extract ``archive`` (zip, tar, tar.gz/bz2/xz) into the new folder ``dest``.

    Only members below ``strip_prefix`` are extracted, with that prefix
    removed.  ``dest`` must not exist; on any error it may hold a partial tree
    that the caller deletes (the fetcher always extracts into a temporary name).
    Returns the SHA-256 of every file and link written, by relative path, so
    the tree hash needs no second read (see :func:`treehash.hash_digests`).
    Every failure is a FetchError naming the archive, whatever raised it
    (zipfile and tarfile raise ValueError, UnicodeError, ... on crafted input).
    """
    prefix = strip_prefix.strip("/") if strip_prefix else None
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                return _write(archive, _zip_members(archive, handle, prefix), dest, prefix, max_size)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*", tarinfo=_BoundedTarInfo) as handle:
                return _write(archive, _tar_members(archive, handle, prefix), dest, prefix, max_size)
        else:
            raise FetchError("not a zip or tar archive", file=archive,
                             fix="check the URL: it may serve an HTML error page")
    except FetchError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError, zlib.error,
            lzma.LZMAError, NotImplementedError) as exc:
        raise FetchError(f"corrupt archive: {clip(str(exc) or type(exc).__name__)}", file=archive,
                         fix="delete it and download it again") from None


def _write(archive: Path, members: Iterable[Member], dest: Path, prefix: str | None, max_size: int) -> dict[str, str]:
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
                        raise _too_large(archive, max_size)
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
                    raise ValueError(f"malformed hunk at line {i + 1}: {shorten(line)}")
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


def within(root: Path, path: Path, what: Path | None = None) -> Path:
    """``path`` with every link resolved, when that stays below ``root``; else a FetchError naming ``what``.

    For trees that were not extracted by us (a copied local folder) or that a
    step is about to read or write through: a link's text is not enough, only
    the resolved path tells where a write lands.
    """
    real, top = os.path.realpath(path), os.path.realpath(root)
    if real != top and not real.startswith(top.rstrip(os.sep) + os.sep):
        raise FetchError(f"{shorten(str(path))} leads outside {shorten(str(root))} through a symbolic link",
                         file=what, fix="remove the link, or point the dependency at a tree without it")
    return Path(real)


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
        within(tree, target, patch_file)
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
            results[within(tree, tree / _clean_name(patch_file, change.new_path), patch_file)] = patched
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
