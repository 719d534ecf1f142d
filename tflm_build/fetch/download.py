"""Getting dependency trees: pinned, verified, cached, mirrored, offline.

Modelled on Meson's ``wrap.py``: a dependency is a URL plus hashes; a local
folder, a mirror or a cache can stand in for the URL; the tree is unpacked,
verified and patched under ``third_party/downloads/<name>``.

Where a tree comes from, in order:

1. a local folder: ``TFLM_ROOT`` for TFLM, ``<NAME>_DIR`` for the others
   (build variables first, then the environment);
2. the archive cache (``TFLM_BUILD_CACHE``, default ``$XDG_CACHE_HOME/tflm-build``):
   archives named by their SHA-256, with an index from upstream URL to hash;
3. each mirror of ``TFLM_BUILD_MIRROR`` (folders or URLs, separated by spaces
   or commas), holding the upstream URL's host and path: mirror ``/m`` serves
   ``https://github.com/a/b/archive/c.zip`` as ``/m/github.com/a/b/archive/c.zip``
   (``tflm-build vendor DIR`` writes exactly that layout);
4. the upstream ``url``, then ``extra_urls``.

With ``TFLM_BUILD_OFFLINE=1`` no connection is ever opened: steps 3 and 4 use
folders and ``file://`` URLs only, and a miss says which file to put where.

Trust: whatever the source, the extracted tree must hash to the pinned ``tree``
(and the archive to ``sha256`` when pinned) before it is patched and used.
A verified tree gets a *stamp* (``third_party/downloads/.stamps/<name>.json``)
written last, after an atomic rename of the finished tree; the stamp names the
dependency definition, the patch contents and the installed folder's inode and
mtime.  A build whose stamp matches stats one file and one folder: no hashing,
no network.  Everything in progress lives under temporary names, so Ctrl-C or
``kill -9`` at any moment leaves nothing that a later run trusts.  Locks
(``flock``) are per archive in the cache and per installed folder in the
downloads folder, so a slow download blocks only the builds that need that very
archive, and a build that waits says what for.  An archive that fails
extraction or verification, for whatever reason, is removed from the cache at
once: a bad download never keeps failing after the server is fixed.

The cache's ``index.json`` is data from disk, not trusted: an entry that is not
a mapping naming a ``<sha256><suffix>`` file in ``archives/`` is dropped with a
warning (and replaced by the next download), so no entry can make the fetcher
read or delete a file outside the cache.

Downloads are bounded in time: ``TFLM_BUILD_DOWNLOAD_TIMEOUT`` (seconds, default
1800) for the whole download with its retries, ``TFLM_BUILD_STALL_TIMEOUT``
(default 60) without a byte from the server.  HTTP 429 and 503 are retried after
the server's ``Retry-After`` when that fits in the download's deadline.

Local folders are used in place when the dependency has no patches (TFLM
itself).  They are hashed once; the result is stamped together with a
*fingerprint* of the folder (file count, total size, newest mtime/ctime: one
``stat`` per file, 30-40 ms for TFLM's 1,837 files, no reads), so an edit is
noticed on the next build and re-hashed (~0.3 s).  A folder that does not match
is an error naming the folder, both hashes and the fix, or only a warning when
``<NAME>_MODIFIED=1`` (``TFLM_ROOT_MODIFIED=1``) says the change is deliberate.

A local folder of a dependency *with* patches must be pristine upstream
sources (it is verified like any other): it is never written to; it is copied
to ``third_party/downloads/<name>`` and patched there, and the copy is redone
whenever the folder's fingerprint changes.  An already patched folder (such as
the TFLM Makefile's ``downloads/flatbuffers``) does not verify; marked modified
it is copied and patched too, and fails with a clear message if the patch no
longer applies.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from . import archive, treehash
from .pins import Dependency
from ..errors import ConfigError, FetchError, clip, shorten, unknown_choice, user_path
from ..files import write_atomic

_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 16
_ARCHIVE_NAME = re.compile(r"^[0-9a-f]{64}(?:\.[A-Za-z0-9]{1,10}){1,2}$")  # <sha256><suffix> in archives/
_SUFFIX = re.compile(r"^(?:\.[A-Za-z0-9]{1,10}){1,2}$")


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """The per-user cache folder: XDG on Unix, LOCALAPPDATA on Windows, ~/Library/Caches on macOS."""
    if sys.platform == "win32" and environ.get("LOCALAPPDATA"):
        return Path(environ["LOCALAPPDATA"]) / "tflm-build" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "tflm-build"
    base = environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "tflm-build"


@dataclass
class Settings:
    """Where trees and archives live and how to reach the network."""

    cache_dir: Path
    mirrors: list[str]
    offline: bool
    downloads_dir: Path
    local_dirs: dict[str, Path]
    modified_ok: set[str]
    connect_timeout: float = 15.0
    stall_timeout: float = 60.0  # seconds without a byte from the server (TFLM_BUILD_STALL_TIMEOUT)
    deadline: float = 1800.0  # seconds for one download with its retries (TFLM_BUILD_DOWNLOAD_TIMEOUT)
    retries: int = 4  # further attempts after the first, on 5xx, resets and timeouts
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    max_size: int = archive.DEFAULT_MAX_SIZE
    progress: bool | None = None  # a progress bar; None: when stderr is a terminal

    @classmethod
    def from_env(cls, repo_root: Path, environ: Mapping[str, str], variables: Mapping[str, str]) -> "Settings":
        """Read TFLM_BUILD_CACHE/MIRROR/OFFLINE/DOWNLOAD_TIMEOUT/STALL_TIMEOUT, TFLM_ROOT, <NAME>_DIR, <NAME>_MODIFIED.

        Build variables win over the environment for every name.
        """
        merged = {**environ, **variables}
        local_dirs: dict[str, Path] = {}
        modified: set[str] = set()
        for key, value in merged.items():
            if key == "TFLM_ROOT" and value:
                local_dirs["tflite_micro"] = user_path(value, key).resolve()
            elif key.endswith("_DIR") and value and key[:-4].isupper():
                local_dirs[key[:-4].lower()] = user_path(value, key).resolve()
            elif key == "TFLM_ROOT_MODIFIED" and value.lower() in _TRUE:
                modified.add("tflite_micro")
            elif key.endswith("_MODIFIED") and value.lower() in _TRUE:
                modified.add(key[: -len("_MODIFIED")].lower())
        cache = merged.get("TFLM_BUILD_CACHE")
        return cls(
            cache_dir=user_path(cache, "TFLM_BUILD_CACHE").resolve() if cache else default_cache_dir(merged),
            mirrors=merged.get("TFLM_BUILD_MIRROR", "").replace(",", " ").split(),
            offline=merged.get("TFLM_BUILD_OFFLINE", "").lower() in _TRUE,
            downloads_dir=repo_root / "third_party" / "downloads",
            local_dirs=local_dirs,
            modified_ok=modified,
            stall_timeout=_seconds(merged, "TFLM_BUILD_STALL_TIMEOUT", cls.stall_timeout),
            deadline=_seconds(merged, "TFLM_BUILD_DOWNLOAD_TIMEOUT", cls.deadline),
        )


def _seconds(values: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from ``values[name]``, else ``default``."""
    text = values.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}={shorten(text)} is not a positive number of seconds", key=name,
                          fix=f"write e.g. {name}={default:g}, or unset it for the default ({default:g} s)")
    return value


@dataclass(frozen=True)
class DepStatus:
    """What ``tflm-build deps`` shows for one dependency."""

    name: str
    version: str
    source: str  # "local", "cache", "mirror", "upstream" or "missing"
    verified: bool
    path: Path


def mirror_path(url: str) -> str:
    """The path of ``url`` inside a mirror: host followed by the URL's path."""
    parts = urlsplit(url)
    return (parts.netloc + parts.path).lstrip("/")


def _local_file(location: str) -> Path | None:
    """A folder or file:// location as a Path; None for network URLs."""
    if location.startswith("file://"):
        from urllib.request import url2pathname  # imported late: it pulls in http.client

        return Path(url2pathname(urlsplit(location).path))
    if "://" in location:
        return None
    return user_path(location, "TFLM_BUILD_MIRROR")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never half."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True))


def archive_key(url: str) -> str:
    """The name of an archive's lock and partial downloads in the cache: a digest of its URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _valid_entry(entry: Any) -> bool:
    """An index entry we wrote: a mapping whose ``file`` is ``<its sha256><suffix>``, a plain name."""
    if not isinstance(entry, dict):
        return False
    name, digest = entry.get("file"), entry.get("sha256")
    return isinstance(name, str) and isinstance(digest, str) and bool(_ARCHIVE_NAME.match(name)) \
        and name.startswith(digest)


def _definition(dep: Dependency) -> str:
    """A digest of the fields that decide what the installed tree holds."""
    data = [dep.name, dep.version, dep.url, dep.strip_prefix, dep.tree, dep.local_ignore,
            [[p.path, p.from_dep, p.strip] for p in dep.patches]]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def _dir_id(path: Path) -> list[int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_ino, info.st_mtime_ns]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


_LOCKS: dict[Path, threading.RLock] = {}
_DEPTH: dict[Path, int] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_now(handle: Any, wait: bool) -> bool:
    """Take the lock of an open file; without ``wait``, False when another process holds it."""
    try:
        if os.name == "nt":
            import msvcrt
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
        else:
            import fcntl
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except (BlockingIOError, PermissionError):
        if wait:
            raise
        return False
    return True


@contextlib.contextmanager
def file_lock(path: Path, waiting_for: str = "", log: Callable[[str], None] | None = None) -> Iterator[None]:
    """An exclusive lock between processes (flock; msvcrt on Windows) and threads; re-entrant.

    Re-entrant because fetching a patched dependency may fetch the one holding
    its patch; a second ``flock`` on a new descriptor would deadlock.  When
    another process holds it, ``log`` says so and names ``waiting_for``: a
    build stuck behind someone else's slow download must not look hung.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCKS_GUARD:
        local = _LOCKS.setdefault(path, threading.RLock())
    with local:
        if _DEPTH.get(path):
            _DEPTH[path] += 1
            try:
                yield
            finally:
                _DEPTH[path] -= 1
            return
        with open(path, "a+b") as handle:
            if not _lock_now(handle, wait=False):
                if log is not None:
                    log(f"tflm-build: waiting for another process {waiting_for or 'using ' + str(path)} "
                        f"(lock {path})")
                _lock_now(handle, wait=True)
            _DEPTH[path] = 1
            try:
                yield
            finally:
                _DEPTH.pop(path, None)  # closing the file releases the lock


class _Retry(Exception):
    """A failure worth another attempt (5xx, 429, short body), after ``delay`` seconds when the server said."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (a number, or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass
class _Source:
    """One place an archive may come from."""

    kind: str  # "cache", "mirror" or "upstream"
    location: str  # URL or file path, for messages
    path: Path | None = None  # set when the archive is a local file
    url: str | None = None  # set when it must be downloaded


@dataclass
class Fetcher:
    """Makes dependency trees available; see the module docstring for the rules."""

    deps: Mapping[str, Dependency]
    settings: Settings
    log: Callable[[str], None] = print
    _done: dict[str, Path] = field(default_factory=dict, init=False)
    _session: Any = field(default=None, init=False)
    _fingerprints: dict[tuple[Path, tuple[str, ...]], str] = field(default_factory=dict, init=False)

    # ------------------------------------------------------------ public API

    def ensure(self, name: str) -> Path:
        """Return the verified, patched tree root of ``name``, fetching it if needed."""
        if name in self._done:
            return self._done[name]
        dep = self._dep(name)
        local = self.settings.local_dirs.get(name)
        if local is not None:
            verified = self._check_local(dep, local)
            path = local if not dep.patches else self._install(dep, local, verified)
        else:
            self._require_pinned(dep)
            path = self._install(dep, None, dep.pinned)
        self._done[name] = path
        return path

    def status(self, name: str) -> DepStatus:
        """Where ``name`` comes from now and whether it verified, without fetching."""
        dep = self._dep(name)
        local = self.settings.local_dirs.get(name)
        target = self.settings.downloads_dir / name
        if local is not None:
            with contextlib.suppress(FetchError):
                verified = self._check_local(dep, local, quiet=True)
                copy = self._install_dir(dep, local, [treehash.file_sha256(p) for p in self._patch_files(dep)])
                return DepStatus(name, dep.version, "local", verified, local if not dep.patches else copy)
            return DepStatus(name, dep.version, "local", False, local)
        stamp = _read_json(self._stamp(name))
        if stamp and stamp.get("definition") == _definition(dep) and stamp.get("dir") == _dir_id(target):
            return DepStatus(name, dep.version, str(stamp.get("source")), bool(stamp.get("verified")), target)
        return DepStatus(name, dep.version, "missing", False, target)

    def archive_for(self, name: str) -> Path:
        """A verified archive of ``name`` (from cache, mirror or upstream) for vendoring."""
        dep = self._dep(name)
        self._require_pinned(dep)
        with self._folder_lock(dep.name):
            found, _ = self._first_good_archive(dep, dep.name, keep_tree=False)
        return found

    def unpack_unpinned(self, dep: Dependency, dest: Path) -> str:
        """Extract ``dep``'s archive (cache, mirror or upstream) to ``dest``; its source kind.

        For ``tflm-build deps pin``: the tree hash is what the caller computes,
        so only ``dep.md5`` (when set) is checked.
        """
        folder = f".pin-{dep.name}"
        with self._folder_lock(folder):
            work, source = self._first_good_archive(dep, folder, keep_tree=True)
            try:
                os.replace(work / "tree", dest)
            finally:
                _remove(work)
        return source

    # ------------------------------------------------------------ local folders

    def _check_local(self, dep: Dependency, local: Path, quiet: bool = False) -> bool:
        """Verify a local folder against ``tree`` (cached by fingerprint); True when it matches."""
        variable = dep.env_var
        if not local.is_dir():
            raise FetchError(f"{variable}={local} is not a folder", key=variable,
                             fix=f"point {variable} at an unpacked {dep.name} {dep.version} tree, or unset it")
        fp = self._fingerprint(local, dep.local_ignore)
        # One stamp per folder: builds that use different folders for the same dependency
        # (a fixture tree, a checkout) must not make each other re-hash.
        stamp_path = self._stamp(dep.name, ".local-" + hashlib.sha1(str(local.resolve()).encode()).hexdigest()[:10])
        stamp = _read_json(stamp_path)
        seen = {"path": str(local), "fingerprint": fp, "ignore": list(dep.local_ignore)}
        if stamp and all(stamp.get(k) == v for k, v in seen.items()) and isinstance(stamp.get("actual"), str):
            actual = stamp["actual"]
        else:
            if not quiet:
                self.log(f"tflm-build: verifying {variable}={local} ...")
            actual = treehash.tree_hash(local, dep.local_ignore)
            _write_json(stamp_path, {**seen, "actual": actual})
        if actual == dep.tree:
            return True
        if not dep.pinned:
            if not quiet:
                self.log(f"tflm-build: warning: {dep.name}: using {variable}={local} unverified: "
                         f"the tree hash is not yet pinned in {dep.file} (this tree: {actual})")
            return False
        if dep.name in self.settings.modified_ok:
            if not quiet:
                self.log(f"tflm-build: warning: {variable}={local} differs from {dep.name} {dep.version} "
                         f"(expected {dep.tree}, found {actual}); used anyway because "
                         f"{self._modified_var(dep)}=1")
            return False
        raise FetchError(
            f"{variable}={local} is not {dep.name} {dep.version}: its tree hash is {actual}, "
            f"expected {dep.tree}", file=dep.file, key="tree",
            fix=f"point {variable} at a pristine {dep.name} {dep.version} tree (unpatched), unset it to "
                f"download the pinned version, or set {self._modified_var(dep)}=1 if you changed it on purpose")

    def _fingerprint(self, local: Path, ignore: tuple[str, ...]) -> str:
        """The tree's fingerprint, taken once per run: checking and installing a patched copy both need it."""
        key = (local, tuple(ignore))
        if key not in self._fingerprints:
            self._fingerprints[key] = treehash.fingerprint(local, ignore)
        return self._fingerprints[key]

    @staticmethod
    def _modified_var(dep: Dependency) -> str:
        return f"{dep.env_var}_MODIFIED" if dep.env_var == "TFLM_ROOT" else f"{dep.name.upper()}_MODIFIED"

    # ------------------------------------------------------------ installing

    def _dep(self, name: str) -> Dependency:
        if name not in self.deps:
            raise unknown_choice("dependency", name, self.deps)
        return self.deps[name]

    def _require_pinned(self, dep: Dependency) -> None:
        if not dep.pinned and not dep.md5:  # an MD5 named by the TFLM tree is what can be checked
            raise FetchError(f"{dep.name}: tree hash not yet pinned", file=dep.file, key="tree",
                             fix=f"set {dep.env_var} to a copy you trust, or pin 'tree:' (the h1: hash of "
                                 f"the extracted tree, see tflm_build/fetch/treehash.py) in {dep.file}")

    def _stamp(self, name: str, suffix: str = "") -> Path:
        return self.settings.downloads_dir / ".stamps" / f"{name}{suffix}.json"

    def _patch_files(self, dep: Dependency) -> list[Path]:
        files = []
        for patch in dep.patches:
            root = self.ensure(patch.from_dep) if patch.from_dep else dep.file.parent.parent
            path = root / patch.path
            if not path.is_file():
                raise FetchError(f"patch file {path} is missing", file=dep.file, key="patches",
                                 fix=f"check 'path' and 'from' of the patch in {dep.file}")
            files.append(path)
        return files

    def _install(self, dep: Dependency, local: Path | None, verified: bool) -> Path:
        """Fast path: the stamp matches.  Slow path: build the tree under a lock, stamp it last.

        The stamp must match the definition, the patch contents, the local
        source's fingerprint (for a patched local copy) and the installed
        folder's identity: any change redoes the tree.
        """
        patch_files = self._patch_files(dep)
        patch_hashes = [treehash.file_sha256(path) for path in patch_files]
        target = self._install_dir(dep, local, patch_hashes)
        folder = target.name
        stamp_path = self._stamp(folder)
        want = {"definition": _definition(dep),
                "patches": patch_hashes,
                "local": [str(local), self._fingerprint(local, dep.local_ignore)] if local else None}

        def current() -> bool:
            stamp = _read_json(stamp_path)
            return bool(stamp) and all(stamp.get(k) == v for k, v in want.items()) \
                and stamp.get("dir") == _dir_id(target)

        if current():
            return target
        with self._folder_lock(folder):
            if current():  # another build finished it while we waited
                return target
            if local is not None:
                work = self._temp_dir(folder)
                tree = work / "tree"
                shutil.copytree(local, tree, symlinks=True,
                                ignore=lambda folder, names: [n for n in names if n in treehash.VCS_DIRS])
                source = "local"
            else:
                work, source = self._first_good_archive(dep, folder, keep_tree=True)
                tree = work / "tree"
            try:
                for patch, path in zip(dep.patches, patch_files):
                    try:
                        archive.apply_patch(tree, path, patch.strip)
                    except FetchError as exc:
                        hint = (f"; {dep.env_var}={local} may already be patched: point it at pristine sources"
                                if local is not None else "")
                        raise FetchError(f"{dep.name}: {exc.message}{hint}", file=path, fix=exc.fix) from None
                stamp_path.unlink(missing_ok=True)  # from here the old tree is no longer trusted
                if target.exists() or target.is_symlink():
                    old = self.settings.downloads_dir / f".old-{folder}-{uuid.uuid4().hex[:8]}"
                    os.replace(target, old)
                    _remove(old)
                os.replace(tree, target)
            finally:
                _remove(work)
            _write_json(stamp_path, {**want, "dir": _dir_id(target), "source": source,
                                     "verified": verified, "version": dep.version})
        return target

    def _install_dir(self, dep: Dependency, local: Path | None, patch_hashes: list[str]) -> Path:
        """downloads/<name>, or for a patched copy of a local folder a folder of its own.

        The copy is keyed by the folder and the patches: builds with different
        <NAME>_DIR (or TFLM trees) running at the same time must never replace
        each other's headers mid-compile.
        """
        if local is None:
            return self.settings.downloads_dir / dep.name
        key = hashlib.sha1("\0".join([str(local.resolve()), *patch_hashes]).encode()).hexdigest()[:10]
        return self.settings.downloads_dir / f"{dep.name}-local-{key}"

    def _temp_dir(self, folder: str) -> Path:
        work = self.settings.downloads_dir / f".tmp-{folder}-{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True)
        return work

    @contextlib.contextmanager
    def _folder_lock(self, folder: str) -> Iterator[None]:
        """Hold the lock of one installed folder, then remove what interrupted runs left of it.

        Temporaries are named ``.tmp-<folder>-<8 hex>`` / ``.old-...``: under
        this folder's lock none of them is in use, and other folders' are not
        touched (their builds may be running).
        """
        downloads = self.settings.downloads_dir
        with file_lock(downloads / ".locks" / f"{folder}.lock", f"installing {downloads / folder}", self.log):
            if downloads.is_dir():
                mine = re.compile(rf"^\.(?:tmp|old)-{re.escape(folder)}-[0-9a-f]{{8}}$")
                for entry in downloads.iterdir():
                    if mine.match(entry.name):
                        _remove(entry)
            yield

    # ------------------------------------------------------------ archives

    def _sources(self, dep: Dependency) -> Iterator[_Source]:
        """Candidate archives in order of preference (the module docstring's steps 2-4)."""
        cached = self._cached(dep)
        if cached is not None:
            yield _Source("cache", str(cached), path=cached)
        for mirror in self.settings.mirrors:
            folder = _local_file(mirror)
            if folder is not None:
                candidate = folder / mirror_path(dep.url)
                if candidate.is_file():
                    yield _Source("mirror", str(candidate), path=candidate)
            elif not self.settings.offline:
                url = mirror.rstrip("/") + "/" + mirror_path(dep.url)
                yield _Source("mirror", url, url=url)
        for url in dep.urls:
            path = _local_file(url) if url.startswith("file://") else None
            if path is not None:
                if path.is_file():
                    yield _Source("upstream", url, path=path)
            elif not self.settings.offline:
                yield _Source("upstream", url, url=url)

    def _first_good_archive(self, dep: Dependency, folder: str, keep_tree: bool) -> tuple[Any, str]:
        """Try each source until one verifies; return (work folder with tree/, source) or (archive, source).

        Whatever goes wrong while a cached or downloaded archive is checked
        (a refused member, a checksum, or an exception a crafted archive draws
        from zipfile, tarfile or the hashing), that archive leaves the cache.
        """
        problems: list[str] = []
        with self._archive_lock(dep):  # only to clean up after an interrupted download
            pass
        for source in self._sources(dep):
            try:
                path = source.path or self._download(dep, source.url or "")
            except FetchError as exc:
                problems.append(exc.message)
                continue
            work = self._temp_dir(folder)
            try:
                self._verify_archive(dep, path, work / "tree", source.location)
            except Exception as exc:  # noqa: BLE001 - see the docstring: nothing unverified stays cached
                _remove(work)
                if source.kind == "cache" or source.url:
                    self._forget(dep, path)
                problems.append(exc.message if isinstance(exc, FetchError) else
                                f"{dep.name}: cannot check the archive from {source.location}: "
                                f"{type(exc).__name__}: {clip(str(exc))}")
                continue
            except BaseException:
                _remove(work)
                raise
            if keep_tree:
                return work, source.kind
            _remove(work)
            return path, source.kind
        raise self._missing(dep, problems)

    def _verify_archive(self, dep: Dependency, path: Path, tree: Path, where: str) -> None:
        """Check the archive's sha256 (if pinned), extract it to ``tree`` and check the tree hash."""
        if dep.md5:
            digest = hashlib.md5(usedforsecurity=False)
            with open(path, "rb") as stream:
                for chunk in iter(lambda: stream.read(_CHUNK), b""):
                    digest.update(chunk)
            actual = digest.hexdigest()
            if actual != dep.md5:
                raise FetchError(f"{dep.name}: archive checksum mismatch for {where}: the TFLM tree names MD5 "
                                 f"{dep.md5}, got {actual}")
        if dep.sha256:
            actual = treehash.file_sha256(path)
            if actual != dep.sha256:
                raise FetchError(f"{dep.name}: archive checksum mismatch for {where}: expected sha256 "
                                 f"{dep.sha256}, got {actual}")
        try:
            digests = archive.extract(path, tree, dep.strip_prefix, self.settings.max_size)
        except FetchError as exc:
            raise FetchError(f"{dep.name}: the archive from {where}: {exc.message}") from None
        actual = treehash.hash_digests(digests, dep.local_ignore)
        if actual != dep.tree and dep.pinned:
            raise FetchError(f"{dep.name}: tree hash mismatch for the archive from {where}: "
                             f"expected {dep.tree}, got {actual}")

    def _missing(self, dep: Dependency, problems: list[str]) -> FetchError:
        relative = mirror_path(dep.url)
        folders = [m for m in self.settings.mirrors if _local_file(m) is not None]
        put = f"put {Path(relative).name} at {Path(str(_local_file(folders[0]))) / relative}" if folders else (
            f"put {Path(relative).name} at <folder>/{relative} and set TFLM_BUILD_MIRROR=<folder> "
            f"(`tflm-build vendor <folder>` on a connected machine writes that layout)")
        fix = f"{put}, or set {dep.env_var} to an unpacked {dep.name} {dep.version} tree"
        if self.settings.offline:
            message = f"{dep.name} {dep.version} is not available offline (TFLM_BUILD_OFFLINE=1)"
        else:
            message = f"could not fetch {dep.name} {dep.version}"
        if problems:
            message += ":\n    " + "\n    ".join(problems)
        return FetchError(message, file=dep.file, fix=fix)

    # ------------------------------------------------------------ cache and download

    def _cached(self, dep: Dependency, quiet: bool = False) -> Path | None:
        """The cached archive of ``dep.url``: a regular file in archives/ named by a valid index entry."""
        index_path = self.settings.cache_dir / "index.json"
        entry = (_read_json(index_path) or {}).get(dep.url)
        if entry is None:
            return None
        if not _valid_entry(entry):
            if not quiet:
                    self.log(f"tflm-build: warning: {index_path}: ignoring the invalid entry for {shorten(dep.url)}: "
                         f"{shorten(entry)} (it is replaced by the next download)")
            return None
        path = self.settings.cache_dir / "archives" / entry["file"]
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(path).st_mode):
                return path
        return None

    def _update_index(self, url: str, entry: Mapping[str, Any] | None) -> None:
        """Set (or with None remove) the index entry of ``url``; invalid entries are dropped on the way."""
        cache = self.settings.cache_dir
        with file_lock(cache / ".locks" / "index.lock", "the cache index", self.log):
            index_path = cache / "index.json"
            index = {k: v for k, v in (_read_json(index_path) or {}).items() if _valid_entry(v)}
            index.pop(url, None)
            if entry is not None:
                index[url] = entry
            _write_json(index_path, index)

    def _forget(self, dep: Dependency, path: Path) -> None:
        """Drop a cached archive that failed verification, so it is never used again."""
        self._update_index(dep.url, None)
        if path.parent == self.settings.cache_dir / "archives":  # never a file outside the cache
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _archive_lock(self, dep: Dependency) -> Iterator[None]:
        """Hold the lock of ``dep``'s archive in the cache, then remove the partial downloads runs left of it."""
        key = archive_key(dep.url)
        with file_lock(self.settings.cache_dir / ".locks" / f"{key}.lock", f"downloading {dep.name} ({dep.url})",
                       self.log):
            partials = self.settings.cache_dir / "tmp"
            if partials.is_dir():
                for old in partials.glob(f"{key}-*.part"):
                    old.unlink(missing_ok=True)
            yield

    def _download(self, dep: Dependency, url: str) -> Path:
        """Download ``url`` into the cache (content-addressed) and index it under ``dep.url``.

        The lock is this archive's own: other downloads into the same cache go
        on.  A process that waited for it finds the archive cached and
        downloads nothing.
        """
        cache = self.settings.cache_dir
        with self._archive_lock(dep):
            cached = self._cached(dep, quiet=True)  # another process may have downloaded it while we waited
            if cached is not None:
                return cached
            part = cache / "tmp" / f"{archive_key(dep.url)}-{uuid.uuid4().hex[:8]}.part"
            part.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._get(dep, url, part)
                digest = treehash.file_sha256(part)
                if dep.sha256 and digest != dep.sha256:
                    raise FetchError(f"checksum mismatch for {url}: expected sha256 {dep.sha256}, got {digest} "
                                     f"(file deleted)")
                suffix = "".join(Path(urlsplit(dep.url).path).suffixes[-2:])
                final = cache / "archives" / f"{digest}{suffix if _SUFFIX.match(suffix) else '.archive'}"
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, final)
            finally:
                part.unlink(missing_ok=True)
            self._update_index(dep.url, {"file": final.name, "sha256": digest, "from": url,
                                         "size": final.stat().st_size})
        return final

    def _http(self) -> Any:
        if self._session is None:
            import requests  # imported late: offline and cached builds never need it
            self._session = requests.Session()
            self._session.trust_env = True  # proxies and certificates from the environment
            self._session.headers["User-Agent"] = "tflm-build"
        return self._session

    def _get(self, dep: Dependency, url: str, part: Path) -> None:
        """Stream ``url`` to ``part`` within the deadline: retries with backoff, resumes with Range.

        Retried: 5xx, 429, resets, stalls and short bodies; a Retry-After on
        429/503 replaces the backoff when it fits before the deadline, and
        ends the download at once when it does not.
        """
        import requests
        import urllib3

        session = self._http()
        attempts = self.settings.retries + 1
        resumable = False
        started = time.monotonic()
        deadline = started + self.settings.deadline
        bar = self.settings.progress if self.settings.progress is not None else sys.stderr.isatty()
        self.log(f"tflm-build: fetching {dep.name} {dep.version} from {url}")
        for attempt in range(1, attempts + 1):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have and resumable else {}
            left = self._time_left(deadline, url, have)
            try:
                with session.get(url, stream=True, headers=headers, allow_redirects=True,
                                 timeout=(min(self.settings.connect_timeout, left),
                                          min(self.settings.stall_timeout, left))) as reply:
                    if reply.status_code == 416:
                        part.unlink(missing_ok=True)
                        raise _Retry("server refused the resume range")
                    if reply.status_code in (429, 503) or reply.status_code >= 500:
                        raise _Retry(f"HTTP {reply.status_code}",
                                     retry_after(reply.headers.get("Retry-After"), time.time()))
                    if reply.status_code >= 400:
                        raise FetchError(f"HTTP {reply.status_code} {clip(reply.reason)} for {url}")
                    append = reply.status_code == 206 and have and \
                        reply.headers.get("Content-Range", "").startswith(f"bytes {have}-")
                    if not append:
                        have = 0
                    resumable = reply.headers.get("Accept-Ranges", "").lower() == "bytes" or bool(append)
                    length = reply.headers.get("Content-Length")
                    total = have + int(length) if length and length.isdigit() else None
                    self._stream(dep, url, reply, part, "ab" if append else "wb", have, total, bar, deadline)
                    size = part.stat().st_size
                    if total is not None and size < total:
                        raise _Retry(f"body truncated at {size} of {total} bytes")
                    if bar:
                        sys.stderr.write(f"  {size / 1e6:.1f} MB in {time.monotonic() - started:.1f} s\n")
                    return
            except (_Retry, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    urllib3.exceptions.HTTPError) as exc:
                reason = str(exc) or type(exc).__name__
                if attempt == attempts:
                    raise FetchError(f"download of {url} failed after {attempts} attempts: {clip(reason)}") \
                        from None
                asked = exc.delay if isinstance(exc, _Retry) else None
                delay = asked if asked is not None else self.settings.backoff * 2 ** (attempt - 1)
                left = self._time_left(deadline, url, part.stat().st_size if part.exists() else 0)
                if delay >= left:
                    raise FetchError(f"download of {url}: {reason}, and waiting {delay:g} s to retry "
                                     f"{'(as the server asks) ' if asked is not None else ''}would pass the "
                                     f"deadline of {self.settings.deadline:g} s (TFLM_BUILD_DOWNLOAD_TIMEOUT)") \
                        from None
                self.log(f"tflm-build: {dep.name}: {clip(reason)}; retrying in {delay:g} s")
                time.sleep(delay)
            except requests.RequestException as exc:
                raise FetchError(f"download of {url} failed: {clip(str(exc))}") from None
        raise AssertionError("unreachable")

    def _time_left(self, deadline: float, url: str, have: int) -> float:
        """Seconds until ``deadline``; a FetchError once it has passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(f"download of {url} did not finish within {self.settings.deadline:g} s "
                             f"(TFLM_BUILD_DOWNLOAD_TIMEOUT; {have} bytes received)",
                             fix="raise TFLM_BUILD_DOWNLOAD_TIMEOUT for a slow link, or use a mirror "
                                 "(TFLM_BUILD_MIRROR)")
        return left

    def _stream(self, dep: Dependency, url: str, reply: Any, part: Path, mode: str, have: int,
                total: int | None, bar: bool, deadline: float) -> None:
        """Append the body to ``part``, whatever arrived at each read; on a terminal redraw one progress line.

        ``read1`` returns what the socket has, so the deadline is checked
        between reads even when a server trickles a byte at a time, and each
        read waits at most the stall timeout or what is left of the deadline.
        """
        done = have
        raw = reply.raw
        with open(part, mode) as sink:
            while True:
                wait = min(self.settings.stall_timeout, self._time_left(deadline, url, done))
                sock = getattr(raw.connection, "sock", None)
                if sock is not None:
                    sock.settimeout(wait)
                chunk = raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    return
                sink.write(chunk)
                done += len(chunk)
                if done > self.settings.max_size:
                    raise FetchError(f"download of {dep.name} from {url} exceeds {self.settings.max_size} bytes")
                if bar:
                    share = f" {100 * done // total:3d}%" if total else ""
                    sys.stderr.write(f"\r  {dep.name:<16} {done / 1e6:8.1f} MB{share}")


def write_tree_zip(tree: Path, top: str, dest: Path, ignore: tuple[str, ...] = ()) -> None:
    """Zip ``tree`` with ``top/`` as its single top folder (vendoring a verified local copy)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as out:
            for rel, entry in sorted(treehash.walk(tree, ignore)):
                name = f"{top}/{rel}" if top else rel
                if entry.is_symlink():
                    info = zipfile.ZipInfo(name)
                    info.create_system = 3
                    info.external_attr = (0o120777 << 16)
                    out.writestr(info, os.readlink(entry.path))
                else:
                    out.write(entry.path, name)
        os.replace(temp, dest)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise FetchError(f"no space left writing {dest}") from None
        raise
