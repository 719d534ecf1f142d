"""The hostile-input corpus: what an attacker (or a broken server) can hand the fetcher and the YAML loader.

Every case asserts the exit status (2 bad input, 1 failed download), one
error line naming the file, URL or key, no traceback, and that nothing outside
the fetcher's cache and downloads folder (or the build's GEN_DIR) was created,
changed or deleted: each case runs beside a *sentinel* folder, snapshotted
before and after, that the crafted links, patches and index entries aim at.

Archives are built here (zipfile, tarfile) and served by a loopback server
(127.0.0.1 only); fetch cases run the ``tflm-build fetch`` command's own
function in this process, with the CLI's handling of errors, so they take
milliseconds.  Cases that are the CLI's or SCons's own run them as
subprocesses.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import time
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import FIXTURES, REPO, copy_repo, fixture_env, run_scons
from fetch_helpers import FaultServer, Route, leftovers, make_tar, make_zip, settings, write_dep
from tflm_build.fetch import archive as archive_module
from tflm_build.fetch import pins as deps_module
from tflm_build.cli.deps import fetch_command
from tflm_build.fetch.pins import load_dependencies
from tflm_build.errors import FetchError, TflmBuildError, USAGE_EXIT
from tflm_build.fetch.download import Fetcher, Settings, archive_key, file_lock
from tflm_build.fetch.treehash import hash_lines, tree_hash

TOP = "lib-1.0"
GOOD = {"include/lib.h": b"int lib(void);\n", "src/lib.c": b"int lib(void) { return 1; }\n"}
Entries = dict[str, "bytes | str"]  # a str value is a symbolic link's target


# ---------------------------------------------------------------- the harness

def snapshot(root: Path, skip: tuple[str, ...]) -> dict[str, tuple[object, ...]]:
    """Every path below ``root`` but ``skip``: type, mode, size, mtime and content (or link target)."""
    seen: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(rel_folder, d)) not in skip]
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):  # what it holds is listed on its own; its mtime follows skipped entries
                entry: tuple[object, ...] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode))
            elif stat.S_ISLNK(info.st_mode):
                entry = (stat.S_IFMT(info.st_mode), os.readlink(path))
            else:
                entry = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), info.st_size, info.st_mtime_ns,
                         hashlib.sha256(Path(path).read_bytes()).hexdigest())
            seen[os.path.normpath(os.path.join(rel_folder, name))] = entry
    return seen


@contextlib.contextmanager
def untouched(root: Path, *allowed: str) -> Iterator[None]:
    """Assert that nothing below ``root`` except the ``allowed`` folders changes inside the block."""
    before = snapshot(root, allowed)
    yield
    assert snapshot(root, allowed) == before


@dataclass
class Run:
    status: int
    output: str


def check(run: Run, status: int, *needles: str) -> None:
    """Exit status, one error line naming what it must, no traceback."""
    assert "Traceback" not in run.output, run.output
    assert run.status == status, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("tflm-build: error:")]
    assert len(errors) == (1 if status else 0), run.output
    for needle in needles:
        assert needle in run.output, (needle, run.output)


@dataclass
class World:
    """A temporary folder: sentinel/ (must never change), third_party/, patches/, and root/ (cache, downloads)."""

    tmp: Path
    server: FaultServer
    overrides: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sentinel = self.tmp / "sentinel"
        (sentinel / "sub").mkdir(parents=True)
        (sentinel / "secret.txt").write_text("do not touch\n")
        (sentinel / "sub" / "keep.h").write_text("#define KEEP 1\n")

    @property
    def root(self) -> Path:
        return self.tmp / "root"

    @property
    def url(self) -> str:
        return self.server.url("/lib.zip")

    def dep(self, tree: str, patch: str = "") -> None:
        patches = ""
        if patch:
            (self.tmp / "patches").mkdir(exist_ok=True)
            (self.tmp / "patches" / "lib.patch").write_text(patch)
            patches = "patches:\n  - path: patches/lib.patch\n"
        write_dep(self.tmp / "third_party", "lib", self.url, tree, top=TOP, patches=patches)

    def serve(self, data: bytes, *faults: str) -> None:
        self.server.routes["/lib.zip"] = Route(data, faults=list(faults))

    def settings(self) -> Settings:
        return settings(self.root, **{"retries": 1, **self.overrides})  # type: ignore[arg-type]

    def fetch(self, log: list[str] | None = None) -> Run:
        """``tflm-build fetch lib`` as the CLI runs it: a TflmBuildError is exit 2, anything else a traceback."""
        lines = log if log is not None else []
        deps_module._CACHE.clear()
        try:
            deps = load_dependencies(self.tmp / "third_party")
            status = fetch_command(["lib"], Fetcher(deps, self.settings(), log=lines.append), deps, [],
                                   out=lines.append)
        except TflmBuildError as error:
            lines.append(error.render())
            status = USAGE_EXIT
        except BaseException:  # noqa: BLE001 - a traceback is exactly what the corpus must never see
            lines.append(traceback.format_exc())
            status = -1
        return Run(status, "\n".join(lines))

    def assert_nothing_kept(self) -> None:
        """No archive, index entry, tree or temporary of the failed fetch is left to be trusted later."""
        archives = self.root / "cache" / "archives"
        assert not archives.exists() or list(archives.iterdir()) == []
        index = self.root / "cache" / "index.json"
        assert not index.exists() or self.url not in index.read_text()
        assert not (self.root / "downloads" / "lib").exists()
        assert leftovers(self.root) == []


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    server = FaultServer()
    deps_module._CACHE.clear()
    yield World(tmp_path, server)
    server.stop()
    deps_module._CACHE.clear()


def zip_of(entries: Entries) -> bytes:
    return make_zip(dict(entries), TOP)


def tar_of(entries: Entries, mode: str = "w:gz") -> bytes:
    members: list[tarfile.TarInfo | tuple[str, bytes]] = []
    for name, data in entries.items():
        if isinstance(data, str):
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, data
            members.append(info)
        else:
            members.append((f"{TOP}/{name}", data))
    return make_tar(members, mode)


def naive_tree(entries: Entries) -> str:
    """The tree hash the entries would have if extracted as written: the pin an attacker would publish."""
    return hash_lines((name, hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest())
                      for name, data in entries.items())


GOOD_TREE = naive_tree(dict(GOOD))


# ---------------------------------------------------------------- 1. links resolved as on disk

def _write_through(link: str) -> str:
    """A patch creating a file below ``link``: harmless inside the tree, a write outside if the link escapes."""
    return f"--- /dev/null\n+++ b/{link}/pwned.txt\n@@ -0,0 +1 @@\n+pwned\n"


# The tree is extracted to root/downloads/.tmp-lib-<hex>/tree: four levels below the case's folder.
DEEP = "a/b/c/d/e"
LINK_CASES: list[tuple[str, Entries, str, str]] = [
    # name, entries, the link a patch writes through, the refusal
    ("link through a link to a shallower folder, lexically inside",
     {**GOOD, "x/f": b"x", f"{DEEP}/s": "../../../../../x", f"{DEEP}/esc": "s/../../../../../sentinel"},
     f"{DEEP}/esc", "points outside the tree"),
    ("link to the tree's root, then that/../.. (loop and escape)",
     {**GOOD, "a/up": "..", "esc": "a/up/../../../../sentinel"}, "esc", "outside the tree"),
    ("link to the tree's root: l -> .", {**GOOD, "l": "."}, "l", "directory loop"),
    ("link to its own folder's parent", {**GOOD, "a/b/up": ".."}, "a/b/up", "directory loop"),
    ("two folder links that reach each other", {**GOOD, "a/f": b"a", "b/g": b"b", "a/l": "../b",
                                                          "b/m": "../a"}, "a/l", "directory loop"),
    ("link chain that goes round (a -> b -> a)", {**GOOD, "p": "q", "q": "p"}, "p", "round in a circle"),
    ("plain ../ escape", {**GOOD, "esc": "../../../../sentinel"}, "esc", "points outside the tree"),
    ("absolute link target", {**GOOD, "esc": "/etc"}, "esc", "absolute or odd target"),
    ("member written through a link", {**GOOD, "d": "include", "d/evil.h": b"x"}, "d",
     "through a symbolic link"),
]


@pytest.mark.parametrize("kind", ["zip", "tar"])
@pytest.mark.parametrize("name, entries, through, refusal", LINK_CASES, ids=[c[0] for c in LINK_CASES])
def test_links_are_judged_where_they_lead(world: World, kind: str, name: str, entries: Entries, through: str,
                                          refusal: str) -> None:
    """Pinned to the hash the crafted tree really has, with a patch writing through the link: refused."""
    world.dep(naive_tree(entries), patch=_write_through(through))
    world.serve(zip_of(entries) if kind == "zip" else tar_of(entries))
    with untouched(world.tmp, "root"):
        run = world.fetch()
    check(run, 1, refusal, world.url, "third_party/lib.yaml")
    world.assert_nothing_kept()


def test_a_good_archive_with_inward_links_still_installs(world: World) -> None:
    """The rules refuse escapes and loops, not links: the usual header aliases pass."""
    entries: Entries = {**GOOD, "inc/alias.h": "../include/lib.h", "inc/dir": "../src", "x/y/up": "../../include"}
    world.dep(naive_tree(entries))
    world.serve(zip_of(entries))
    check(world.fetch(), 0)
    assert (world.root / "downloads/lib/inc/dir/lib.c").read_bytes() == GOOD["src/lib.c"]


def _tar_with(info: tarfile.TarInfo) -> bytes:
    return make_tar([(f"{TOP}/{k}", v) for k, v in GOOD.items()] + [info])


def _special(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{TOP}/{name}")
    info.type, info.linkname = kind, link
    return info


def _long_pax_link() -> bytes:
    info = _special("l", tarfile.SYMTYPE, "a/" * 600_000)  # a 1.2 MB pax header
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as handle:
        handle.addfile(info)
    return out.getvalue()


def _long_gnu_name() -> bytes:
    info = tarfile.TarInfo(f"{TOP}/" + "n" * 1_200_000)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.GNU_FORMAT) as handle:
        handle.addfile(info, io.BytesIO(b""))
    return out.getvalue()


def _huge_declared_member() -> bytes:
    """A tar.gz whose one member declares 50 GB: refused at its header, before the stream is read past it."""
    info = tarfile.TarInfo(f"{TOP}/big")
    info.size = 50 << 30
    return gzip.compress(info.tobuf() + b"\0" * 4096)


def _unknown_compression() -> bytes:
    data = bytearray(zip_of(dict(GOOD)))
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # method in local and central headers
        at = data.find(signature)
        while at != -1:
            data[at + offset:at + offset + 2] = (99).to_bytes(2, "little")
            at = data.find(signature, at + 4)
    return bytes(data)


def _lying_zip_size() -> bytes:
    """A zip entry whose header claims 10 bytes but whose stream inflates to 5 MB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.writestr(f"{TOP}/big", b"\0" * 5_000_000)
    data = bytearray(out.getvalue())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size fields
        at = data.find(signature)
        data[at + offset:at + offset + 4] = (10).to_bytes(4, "little")
    return bytes(data)


BROKEN_CASES: list[tuple[str, Callable[[], bytes], str]] = [
    # 2. caps on everything read from an archive
    ("zip link whose target is 10 MB", lambda: zip_of({**GOOD, "l": "x" * 10_000_000}),
     "longer than 4096 bytes"),
    ("zip bomb past the size cap", lambda: zip_of({**GOOD, "big": b"\0" * 3_000_000}), "more than"),
    ("zip entry that lies about its size", _lying_zip_size, "lib.zip"),
    ("tar pax header of 1.2 MB", _long_pax_link, "corrupt archive"),
    ("tar GNU long name of 1.2 MB", _long_gnu_name, "corrupt archive"),
    ("tar member declaring 50 GB", _huge_declared_member, "more than 1000000 bytes"),
    ("more members than the cap", lambda: zip_of({f"m{i}": b"" for i in range(60)}), "more than 50 members"),
    # 3. whatever raises while extracting or hashing is a clean error, and leaves the cache
    ("newline in a member name", lambda: tar_of({**GOOD, "a\nb": b"x"}), "control character"),
    ("NUL in a zip link target", lambda: zip_of({**GOOD, "l": "lib\0x"}), "absolute or odd target"),
    ("undecodable bytes in a tar name", lambda: tar_of({**GOOD, "caf\udce9.h": b"x"}), "undecodable"),
    ("backslash in a member name", lambda: zip_of({**GOOD, "a\\..\\..\\x": b"x"}), "backslash"),
    ("'..' in a member name", lambda: tar_of({**GOOD, "../../../sentinel/x": b"x"}), "'..' path component"),
    ("absolute member name", lambda: make_zip({**GOOD, "/tmp/x": b"x"}), "absolute path"),
    ("device member", lambda: _tar_with(_special("dev", tarfile.CHRTYPE)), "device"),
    ("FIFO member", lambda: _tar_with(_special("fifo", tarfile.FIFOTYPE)), "FIFO"),
    ("hard link out of the tree", lambda: _tar_with(_special("h", tarfile.LNKTYPE, "etc/passwd")),
     "hard link"),
    ("hard link to a symbolic link",
     lambda: make_tar([(f"{TOP}/{k}", v) for k, v in GOOD.items()] + [_special("s", tarfile.SYMTYPE, "src"),
                                                                      _special("h", tarfile.LNKTYPE, f"{TOP}/s")]),
     "not a file in the tree"),
    ("unknown zip compression method", _unknown_compression, "corrupt archive"),
    ("tar.gz cut in half", lambda: (lambda d: d[: len(d) // 2])(tar_of({**GOOD, "pad": os.urandom(4000)})),
     "corrupt archive"),
    ("an HTML page instead of an archive", lambda: b"<html>rate limited</html>", "not a zip or tar"),
    ("a file and a folder of the same name", lambda: zip_of({**GOOD, "src/lib.c/x": b"x"}), "lib.zip"),
]


@pytest.mark.parametrize("name, build, refusal", BROKEN_CASES, ids=[c[0] for c in BROKEN_CASES])
def test_broken_archives_fail_cleanly_and_leave_the_cache(world: World, monkeypatch: pytest.MonkeyPatch,
                                                          name: str, build: Callable[[], bytes],
                                                          refusal: str) -> None:
    """A clean error naming the URL; nothing cached; once the server is fixed the next run succeeds."""
    monkeypatch.setattr(archive_module, "MAX_MEMBERS", 50)
    world.overrides["max_size"] = 1_000_000
    world.dep(GOOD_TREE)
    world.serve(build())
    with untouched(world.tmp, "root"):
        run = world.fetch()
    check(run, 1, refusal, world.url, "third_party/lib.yaml")
    world.assert_nothing_kept()
    world.serve(zip_of(dict(GOOD)))  # the server is fixed
    check(world.fetch(), 0)
    assert tree_hash(world.root / "downloads" / "lib") == GOOD_TREE


def test_poisoned_cache_entry_is_removed_on_first_use(world: World) -> None:
    """An archive already in the cache (written by an older version) that fails extraction is dropped."""
    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)))
    check(world.fetch(), 0)
    cached = next((world.root / "cache" / "archives").iterdir())
    cached.write_bytes(tar_of({**GOOD, "a\nb": b"x"}))
    (world.root / "downloads" / ".stamps" / "lib.json").unlink()
    log: list[str] = []
    with untouched(world.tmp, "root"):
        check(world.fetch(log), 0)
    assert cached.read_bytes() == zip_of(dict(GOOD))  # the bad copy is gone; a good one took its name
    assert len(world.server.hits("/lib.zip")) == 2  # fetched again after the cached copy failed


# ---------------------------------------------------------------- 1b. local trees and patched copies

def test_local_copy_is_never_patched_through_a_link_out(world: World) -> None:
    """<NAME>_DIR may hold anything: its patched copy is written only inside the copy."""
    local = world.tmp / "local"
    for name, data in GOOD.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    (local / "esc").symlink_to(world.tmp / "sentinel")
    world.dep(tree_hash(local), patch=_write_through("esc"))
    world.overrides["local_dirs"] = {"lib": local}
    with untouched(world.tmp, "root"):
        run = world.fetch()
    check(run, 1, "leads outside", "patches/lib.patch")
    assert leftovers(world.root) == []


def test_patch_never_reads_through_a_link_out(world: World) -> None:
    local = world.tmp / "local"
    (local / "src").mkdir(parents=True)
    (local / "src" / "lib.c").symlink_to(world.tmp / "sentinel" / "secret.txt")
    world.dep(tree_hash(local), patch="--- a/src/lib.c\n+++ b/src/lib.c\n@@ -1 +1 @@\n-do not touch\n+pwned\n")
    world.overrides["local_dirs"] = {"lib": local}
    with untouched(world.tmp, "root"):
        check(world.fetch(), 1, "leads outside", "src/lib.c")


def test_license_file_through_a_link_out_is_refused(tmp_path: Path) -> None:
    """The project export's license copy goes through archive.within, the check asserted here."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tmp_path / "secret.txt").write_text("x")
    (tree / "LICENSE").symlink_to(tmp_path / "secret.txt")
    (tree / "COPYING").symlink_to("LICENSE")
    with pytest.raises(FetchError, match="leads outside"):
        archive_module.within(tree, tree / "COPYING", tmp_path / "dep.yaml")
    (tree / "LICENSE").unlink()
    (tree / "LICENSE").write_text("MIT")
    assert archive_module.within(tree, tree / "COPYING") == (tree / "LICENSE").resolve()


# ---------------------------------------------------------------- 4. the network

def test_trickling_server_hits_the_deadline(world: World) -> None:
    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)), "trickle")
    world.overrides.update(deadline=0.5, stall_timeout=5.0)
    with untouched(world.tmp, "root"):
        run = world.fetch()
    check(run, 1, "did not finish within 0.5 s", "TFLM_BUILD_DOWNLOAD_TIMEOUT", world.url)
    world.assert_nothing_kept()


def test_stalled_server_is_given_up(world: World) -> None:
    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)), "stall", "stall")
    world.server.stall_seconds = 1.0
    world.overrides.update(stall_timeout=0.2)
    with untouched(world.tmp, "root"):
        check(world.fetch(), 1, "failed after 2 attempts", world.url)
    world.assert_nothing_kept()


def test_server_closing_early_every_time(world: World) -> None:
    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)), "drop", "drop")
    with untouched(world.tmp, "root"):
        check(world.fetch(), 1, "failed after 2 attempts", world.url)
    world.assert_nothing_kept()


@pytest.mark.parametrize("fault, wait", [
    ("429:1", "1"),  # Retry-After in seconds, not the backoff (0.01 s)
    ("429:Wed, 21 Oct 2015 07:28:00 GMT", "0"),  # an HTTP date in the past: at once
    ("429", "0.01"),  # no Retry-After: the backoff
    ("429:soon", "0.01"),  # unreadable: the backoff
], ids=["Retry-After seconds", "Retry-After date", "no Retry-After", "unreadable Retry-After"])
def test_429_waits_what_retry_after_says(world: World, fault: str, wait: str) -> None:
    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)), fault)
    log: list[str] = []
    check(world.fetch(log), 0)
    assert any(f"HTTP 429; retrying in {wait} s" in line for line in log), log


def test_429_asking_for_longer_than_the_deadline_fails_at_once(world: World) -> None:
    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)), "429:3600")
    world.overrides.update(deadline=30.0, retries=3)
    with untouched(world.tmp, "root"):
        check(world.fetch(), 1, "waiting 3600 s to retry (as the server asks) would pass the deadline", world.url)
    assert len(world.server.hits("/lib.zip")) == 1


def test_lock_is_per_archive_and_a_waiter_says_what_for(world: World) -> None:
    """Another process downloading this archive blocks only this archive, and the wait is said."""
    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)))
    lock = world.root / "cache" / ".locks" / f"{archive_key(world.url)}.lock"
    script = (f"import sys, time; sys.path.insert(0, {str(REPO)!r})\n"
              "from pathlib import Path\nfrom tflm_build.fetch.download import file_lock\n"
              f"with file_lock(Path({str(lock)!r})):\n    print('held', flush=True)\n    sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # Another archive in the same cache is not blocked.
        with file_lock(world.root / "cache" / ".locks" / "other.lock"):
            pass
        log: list[str] = []
        result: list[Run] = []
        waiter = threading.Thread(target=lambda: result.append(world.fetch(log)))
        waiter.start()
        for _ in range(200):  # bounded: 10 s at most
            if any("waiting for another process downloading lib" in line for line in log):
                break
            time.sleep(0.05)
        assert any(str(lock) in line and world.url in line for line in log), log
        assert waiter.is_alive()  # it waits for the lock, it does not download beside it
    finally:
        holder.communicate("", timeout=10)
    waiter.join(timeout=30)
    check(result[0], 0)
    assert len(world.server.hits("/lib.zip")) == 1


# ---------------------------------------------------------------- 5. the cache index

@pytest.mark.parametrize("name, entry", [
    ("index entry naming a file outside the cache", {"file": "../../sentinel/secret.txt", "sha256": "x"}),
    ("index entry with an absolute path", {"file": "SENTINEL", "sha256": "0" * 64}),
    ("index entry naming a sha256-looking file in another folder",
     {"file": "../../sentinel/" + "0" * 64 + ".zip", "sha256": "0" * 64}),
    ("index entry that is a list", ["not", "a", "mapping"]),
    ("index entry that is a string", "archives/x.zip"),
    ("index entry without 'file'", {"sha256": "0" * 64}),
])
def test_crafted_index_entries_touch_nothing_outside(world: World, name: str, entry: object) -> None:
    """An invalid entry is dropped with a warning naming the index (and replaced by a good download)."""
    import json

    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)))
    if isinstance(entry, dict) and entry.get("file") == "SENTINEL":
        entry = {**entry, "file": str(world.tmp / "sentinel" / "secret.txt")}
    index = world.root / "cache" / "index.json"
    index.parent.mkdir(parents=True)
    index.write_text(json.dumps({world.url: entry, "https://other.invalid/x.zip": entry}))
    log: list[str] = []
    with untouched(world.tmp, "root"):
        run = world.fetch(log)
    check(run, 0)
    warnings = [line for line in log if "warning" in line]
    assert len(warnings) == 1 and str(index) in warnings[0] and world.url in warnings[0], log
    kept = json.loads(index.read_text())
    assert list(kept) == [world.url] and kept[world.url]["file"].startswith(kept[world.url]["sha256"])


def test_index_that_is_not_a_mapping_and_a_linked_archive(world: World) -> None:
    import json

    world.dep(GOOD_TREE)
    world.serve(zip_of(dict(GOOD)))
    check(world.fetch(), 0)
    index = world.root / "cache" / "index.json"
    entry = json.loads(index.read_text())[world.url]
    cached = world.root / "cache" / "archives" / entry["file"]
    cached.unlink()
    cached.symlink_to(world.tmp / "sentinel" / "secret.txt")
    (world.root / "downloads" / ".stamps" / "lib.json").unlink()
    with untouched(world.tmp, "root"):
        check(world.fetch(), 0)
    assert cached.is_file() and not cached.is_symlink()
    index.write_text("[1, 2, 3]")
    (world.root / "downloads" / ".stamps" / "lib.json").unlink()
    with untouched(world.tmp, "root"):
        check(world.fetch(), 0)
    assert json.loads(index.read_text())[world.url]["file"] == entry["file"]


# ---------------------------------------------------------------- 6. YAML

BOMB = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("name, raw, needles", [
    ("billion laughs in a dependency file", (BOMB + "name: lib\n").encode(),
     ["lib.yaml:7", "aliases expand this document to more than"]),
    ("billion laughs as the value of a key", (BOMB.replace("i: &i", "url: &i")).encode(),
     ["lib.yaml:", "aliases expand"]),
    ("recursive alias", b"name: &x [lib, *x]\n", ["lib.yaml:1", "recursive YAML alias"]),
    ("100,000 nested brackets", b"name: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
     ["lib.yaml:1", "nested more than"]),
    ("Latin-1 bytes in a dependency file", b"name: lib\nlicense: \"\xa9 someone\"\n",
     ["lib.yaml:2", "not UTF-8 text: byte 0xa9"]),
    ("UTF-16 file", "name: lib\n".encode("utf-16"), ["lib.yaml:1", "not UTF-8"]),
    ("a 5 MB value in a wrong-type error", b"name: lib\nversion: '1'\nlicense: MIT\ntree: x\nurl: ["
     + b"'" + b"u" * 5_000_000 + b"']\n", ["lib.yaml:5", "expected a string, got list"]),
    ("a 5 MB unsupported URL", b"name: lib\nversion: '1'\nlicense: MIT\ntree: h1:UNKNOWN\nurl: ftp://"
     + b"u" * 5_000_000 + b"\n", ["lib.yaml:5", "unsupported URL"]),
    ("a URL whose path climbs out of a mirror folder", b"name: lib\nversion: '1'\nlicense: MIT\ntree: h1:UNKNOWN\n"
     b"url: https://example.com/../../../x.zip\n", ["lib.yaml:5", "'..' segment", "(key 'url')"]),
    ("a URL with a newline escape", b"name: lib\nversion: '1'\nlicense: MIT\ntree: h1:UNKNOWN\n"
     b"url: https://example.com/x.zip\nextra_urls: [\"https://example.com/a\\nb.zip\"]\n",
     ["lib.yaml:6", "control character", "(key 'extra_urls')"]),
    ("a large non-mapping key", b"? [" + b"1," * 50_000 + b"1]\n: x\n", ["lib.yaml:1", "keys must be strings"]),
])
def test_hostile_yaml(world: World, name: str, raw: bytes, needles: list[str]) -> None:
    """Exit 2, file and line, a short message, quickly and in small memory (the bomb is refused before expanding)."""
    (world.tmp / "third_party").mkdir()
    (world.tmp / "third_party" / "lib.yaml").write_bytes(raw)
    with untouched(world.tmp):
        run = world.fetch()
    check(run, 2, *needles)
    assert len(run.output) < 2000


# ---------------------------------------------------------------- 6. the CLI and SCons

def _cli(args: list[str], env: dict[str, str], cwd: Path, stdout: int | None = subprocess.PIPE) -> Run:
    proc = subprocess.run([sys.executable, "-m", "tflm_build.cli", *args], env={**env, "PYTHONPATH": str(REPO)},
                          cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)
    return Run(proc.returncode, (proc.stdout or "") + proc.stderr)


@pytest.mark.parametrize("env, args, key", [
    ({"TFLM_ROOT": "~nosuchuser/x"}, ["fetch"], "TFLM_ROOT"),
    ({}, ["fetch", "TFLM_ROOT=~nosuchuser/x"], "TFLM_ROOT"),
    ({"TFLM_BUILD_CACHE": "~nosuchuser/c"}, ["fetch"], "TFLM_BUILD_CACHE"),
    ({}, ["build", "APP=~nosuchuser/app.yaml"], "APP"),
    ({}, ["build", "--cache-dir", "~nosuchuser/c"], "CACHE_DIR"),
], ids=["TFLM_ROOT in the environment", "TFLM_ROOT on the command line", "TFLM_BUILD_CACHE", "APP", "--cache-dir"])
def test_cli_path_with_an_unknown_user(tmp_path: Path, env: dict[str, str], args: list[str], key: str) -> None:
    with untouched(tmp_path, "cache"):
        run = _cli(args, {**fixture_env(tmp_path), **env}, tmp_path)
    check(run, 2, f"{key}='~nosuchuser/", "cannot expand '~'")


def test_cli_bad_download_timeout(tmp_path: Path) -> None:
    env = {**fixture_env(tmp_path), "TFLM_BUILD_DOWNLOAD_TIMEOUT": "soon"}
    with untouched(tmp_path, "cache"):
        check(_cli(["fetch"], env, tmp_path), 2, "TFLM_BUILD_DOWNLOAD_TIMEOUT='soon' is not a positive number")


def test_cli_ci_out_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine\n")
    with untouched(tmp_path):
        run = _cli(["ci", "--matrix", str(REPO / "ci.yaml"), "--out", "afile"], fixture_env(tmp_path), tmp_path)
    check(run, 2, "--out afile", "not a file")


def test_cli_output_into_a_closed_pipe(tmp_path: Path) -> None:
    """`tflm-build doctor | head`: the reader is gone before the first line."""
    read, write = os.pipe()
    os.close(read)
    try:
        with untouched(tmp_path):
            run = _cli(["doctor"], fixture_env(tmp_path), tmp_path, stdout=write)
    finally:
        os.close(write)
    assert "Traceback" not in run.output and "Broken pipe" not in run.output, run.output
    assert run.status == 141


def test_project_export_never_copies_a_license_through_a_link_out(tmp_path: Path) -> None:
    """A dependency folder whose license file is a link out: the generated project does not get that file."""
    (tmp_path / "sentinel").mkdir()
    (tmp_path / "sentinel" / "secret.txt").write_text("not a license\n")
    kissfft = tmp_path / "kissfft"
    shutil.copytree(FIXTURES / "deps" / "kissfft", kissfft, symlinks=True)
    (kissfft / "COPYING").unlink()
    (kissfft / "COPYING").symlink_to(tmp_path / "sentinel" / "secret.txt")
    gen = tmp_path / "gen"
    with untouched(tmp_path, "gen", "cache"):
        res = run_scons([f"GEN_DIR={gen}", "generate_hello_world_make_project"],
                        {**fixture_env(tmp_path), "KISSFFT_DIR": str(kissfft)})
    check(Run(res.returncode, res.output), 2, "third_party/kissfft.yaml", "COPYING' leads outside")
    assert not [p for p in gen.rglob("*") if p.is_file() and p.read_bytes() == b"not a license\n"]


@pytest.mark.parametrize("flag, needle", [
    ("'{' in a target flag", "Single '{'"),
    ("'{0}' in a target flag", "Replacement index 0"),
    ("'{vars.x}' in a target flag", "cannot substitute"),
])
def test_braces_in_a_target_flag(tmp_path: Path, flag: str, needle: str) -> None:
    repo = copy_repo(tmp_path / "repo")
    value = {"'{' in a target flag": "-DX={", "'{0}' in a target flag": "-DX={0}"}.get(flag, "-DX={arch.x}")
    (repo / "targets" / "braces.yaml").write_text(f"description: x\nextends: linux\nflags:\n  common: ['{value}']\n")
    gen = tmp_path / "gen"
    with untouched(tmp_path, "gen", "cache", "repo/third_party/downloads"):
        res = run_scons([f"GEN_DIR={gen}", "TARGET=braces", "microlite"], fixture_env(tmp_path), repo)
    check(Run(res.returncode, res.output), 2, "braces.yaml", "cannot substitute {variables}", needle,
          "write '{{' and '}}'")
