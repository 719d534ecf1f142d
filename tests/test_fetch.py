"""The fetcher end to end against a loopback server with injected faults.

Every test uses tiny dependencies written into a temporary third_party folder;
nothing here touches the network or the real dependencies.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from fetch_helpers import FaultServer, Route, files_hash, leftovers, make_zip, settings, sha256, write_dep
from tflm_build.fetch import pins as deps_module
from tflm_build.fetch import treehash
from tflm_build.fetch.pins import load_dependencies
from tflm_build.errors import FetchError
from tflm_build.fetch.download import Fetcher, Settings, archive_key, mirror_path

FILES = {"include/lib.h": b"int lib(void);\n", "src/lib.c": b"int lib(void) { return 1; }\n", "LICENSE": b"MIT\n"}
TOP = "lib-1.0"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer()
    yield srv
    srv.stop()


@pytest.fixture
def tree(tmp_path: Path) -> str:
    scratch = tmp_path / "scratch"
    return files_hash(FILES, scratch)


@pytest.fixture(autouse=True)
def fresh_dep_cache() -> Iterator[None]:
    """load_dependencies caches per process; tests rewrite YAML in temp folders."""
    deps_module._CACHE.clear()
    yield
    deps_module._CACHE.clear()


def setup(tmp_path: Path, server: FaultServer, tree: str, route: Route | None = None, **dep_kw: object
          ) -> tuple[dict, Path]:
    data = make_zip(FILES, TOP)
    server.routes["/lib.zip"] = route or Route(data)
    if not server.routes["/lib.zip"].data:
        server.routes["/lib.zip"].data = data
    folder = tmp_path / "third_party"
    write_dep(folder, "lib", server.url("/lib.zip"), tree, top=TOP, **dep_kw)  # type: ignore[arg-type]
    return load_dependencies(folder), tmp_path / "work"


def assert_clean(root: Path) -> None:
    assert leftovers(root) == []
    archives = root / "cache" / "archives"
    assert not archives.exists() or list(archives.iterdir()) == []
    assert not (root / "downloads" / "lib").exists()


def test_download_verify_and_cache(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree)
    fetcher = Fetcher(deps, settings(root), log=lambda m: None)
    path = fetcher.ensure("lib")
    assert path == root / "downloads" / "lib"
    assert (path / "src/lib.c").read_bytes() == FILES["src/lib.c"]
    assert treehash.tree_hash(path) == tree
    status = fetcher.status("lib")
    assert (status.source, status.verified) == ("upstream", True)
    # A second checkout (fresh downloads folder) sharing the cache: no request at all.
    other = settings(root, downloads_dir=tmp_path / "other")
    assert Fetcher(deps, other, log=lambda m: None).ensure("lib").is_dir()
    assert len(server.seen) == 1
    assert Fetcher(deps, other).status("lib").source == "cache"
    assert leftovers(tmp_path) == []


def test_fast_path_neither_hashes_nor_connects(tmp_path: Path, server: FaultServer, tree: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    deps, root = setup(tmp_path, server, tree)
    Fetcher(deps, settings(root), log=lambda m: None).ensure("lib")

    def forbidden(*args: object, **kw: object) -> None:
        raise AssertionError("no hashing or connection on the fast path")

    monkeypatch.setattr(treehash, "tree_hash", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    assert Fetcher(deps, settings(root)).ensure("lib") == root / "downloads" / "lib"


def test_retry_after_500(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree, Route(faults=["500"]))
    lines: list[str] = []
    Fetcher(deps, settings(root), log=lines.append).ensure("lib")
    assert len(server.hits("/lib.zip")) == 2
    assert any("HTTP 500" in line and "retrying" in line for line in lines)


def test_500_every_time_gives_up(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree, Route(faults=["500"] * 10))
    with pytest.raises(FetchError, match="failed after 3 attempts: HTTP 500"):
        Fetcher(deps, settings(root), log=lambda m: None).ensure("lib")
    assert len(server.hits("/lib.zip")) == 3
    assert_clean(root)


def test_dropped_connection_resumes_with_range(tmp_path: Path, server: FaultServer) -> None:
    # Big enough that whole chunks arrive before the drop (a short last read is discarded).
    files = {**FILES, "blob.bin": os.urandom(600_000)}
    folder = tmp_path / "third_party"
    server.routes["/big.zip"] = Route(make_zip(files, TOP), ranges=True, faults=["drop"])
    write_dep(folder, "lib", server.url("/big.zip"), files_hash(files, tmp_path / "s"), top=TOP)
    path = Fetcher(load_dependencies(folder), settings(tmp_path / "w"), log=lambda m: None).ensure("lib")
    assert (path / "blob.bin").read_bytes() == files["blob.bin"]
    hits = server.hits("/big.zip")
    assert len(hits) == 2 and hits[0].range is None
    assert hits[1].range is not None and hits[1].range.startswith("bytes=") and hits[1].range != "bytes=0-"


def test_dropped_connection_restarts_without_range_support(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree, Route(ranges=False, faults=["drop"]))
    Fetcher(deps, settings(root), log=lambda m: None).ensure("lib")
    hits = server.hits("/lib.zip")
    assert len(hits) == 2 and hits[1].range is None
    assert treehash.tree_hash(root / "downloads" / "lib") == tree


def test_wrong_archive_checksum(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree, sha256="0" * 64)
    with pytest.raises(FetchError) as error:
        Fetcher(deps, settings(root), log=lambda m: None).ensure("lib")
    text = str(error.value)
    assert "checksum mismatch" in text and server.url("/lib.zip") in text
    assert "0" * 64 in text and sha256(make_zip(FILES, TOP)) in text
    assert_clean(root)


def test_right_archive_checksum(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree, sha256=sha256(make_zip(FILES, TOP)))
    assert Fetcher(deps, settings(root), log=lambda m: None).ensure("lib").is_dir()


def test_wrong_tree(tmp_path: Path, server: FaultServer, tree: str) -> None:
    evil = make_zip({**FILES, "src/lib.c": b"int lib(void) { return 666; }\n"}, TOP)
    deps, root = setup(tmp_path, server, tree, Route(evil))
    with pytest.raises(FetchError) as error:
        Fetcher(deps, settings(root), log=lambda m: None).ensure("lib")
    assert "tree hash mismatch" in str(error.value) and tree in str(error.value)
    assert_clean(root)
    assert not (root / "cache" / "index.json").exists() or "lib.zip" not in (root / "cache" / "index.json").read_text()


def test_truncated_body_without_length(tmp_path: Path, server: FaultServer, tree: str) -> None:
    """No Content-Length and a short body: only verification can tell; it must."""
    deps, root = setup(tmp_path, server, tree, Route(ranges=False, faults=["short"]))
    with pytest.raises(FetchError, match="corrupt archive|not a zip"):
        Fetcher(deps, settings(root), log=lambda m: None).ensure("lib")
    assert_clean(root)
    # The next run gets the whole body and succeeds.
    assert Fetcher(deps, settings(root), log=lambda m: None).ensure("lib").is_dir()


def test_stalled_server_times_out_then_recovers(tmp_path: Path, server: FaultServer, tree: str) -> None:
    server.stall_seconds = 1.5
    deps, root = setup(tmp_path, server, tree, Route(faults=["stall"]))
    lines: list[str] = []
    Fetcher(deps, settings(root, stall_timeout=0.3), log=lines.append).ensure("lib")
    assert any("retrying" in line for line in lines)


def test_stalled_server_gives_up(tmp_path: Path, server: FaultServer, tree: str) -> None:
    server.stall_seconds = 1.0
    deps, root = setup(tmp_path, server, tree, Route(faults=["stall"] * 5))
    with pytest.raises(FetchError, match="failed after 2 attempts"):
        Fetcher(deps, settings(root, stall_timeout=0.2, retries=1), log=lambda m: None).ensure("lib")
    assert_clean(root)


def test_404_is_not_retried(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree, Route(faults=["404"]))
    with pytest.raises(FetchError) as error:
        Fetcher(deps, settings(root), log=lambda m: None).ensure("lib")
    assert "HTTP 404" in str(error.value) and server.url("/lib.zip") in str(error.value)
    assert "TFLM_BUILD_MIRROR" in str(error.value) and "LIB_DIR" in str(error.value)
    assert len(server.hits("/lib.zip")) == 1
    assert_clean(root)


def test_redirect_is_followed(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree, Route(faults=["redirect:/moved.zip"]))
    server.routes["/moved.zip"] = Route(make_zip(FILES, TOP))
    assert Fetcher(deps, settings(root), log=lambda m: None).ensure("lib").is_dir()
    assert [s.path for s in server.seen] == ["/lib.zip", "/moved.zip"]


def test_extra_urls_are_tried_in_order(tmp_path: Path, server: FaultServer, tree: str) -> None:
    server.routes["/good.zip"] = Route(make_zip(FILES, TOP))
    folder = tmp_path / "third_party"
    write_dep(folder, "lib", server.url("/gone.zip"), tree, top=TOP,
              extra=f"extra_urls: [{server.url('/good.zip')}]\n")
    Fetcher(load_dependencies(folder), settings(tmp_path / "work"), log=lambda m: None).ensure("lib")
    assert [s.path for s in server.seen] == ["/gone.zip", "/good.zip"]


# ---------------------------------------------------------------- mirrors and offline

def offline_dep(tmp_path: Path, tree: str) -> dict:
    folder = tmp_path / "third_party"
    write_dep(folder, "lib", "https://example.invalid/owner/lib/archive/v1.0.zip", tree, top=TOP)
    return load_dependencies(folder)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> None:
        raise AssertionError("a connection was opened")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_offline_miss_says_where_to_put_the_file(tmp_path: Path, tree: str, no_network: None) -> None:
    deps = offline_dep(tmp_path, tree)
    mirror = tmp_path / "mirror"
    with pytest.raises(FetchError) as error:
        Fetcher(deps, settings(tmp_path / "w", offline=True, mirrors=[str(mirror)])).ensure("lib")
    text = str(error.value)
    assert "not available offline" in text
    assert str(mirror / "example.invalid/owner/lib/archive/v1.0.zip") in text and "LIB_DIR" in text
    assert leftovers(tmp_path) == []


def test_offline_mirror_folder(tmp_path: Path, tree: str, no_network: None) -> None:
    deps = offline_dep(tmp_path, tree)
    mirror = tmp_path / "mirror"
    target = mirror / "example.invalid/owner/lib/archive/v1.0.zip"
    target.parent.mkdir(parents=True)
    target.write_bytes(make_zip(FILES, TOP))
    fetcher = Fetcher(deps, settings(tmp_path / "w", offline=True, mirrors=[str(mirror)]))
    assert (fetcher.ensure("lib") / "LICENSE").read_bytes() == b"MIT\n"
    assert fetcher.status("lib").source == "mirror"


def test_file_url_mirror(tmp_path: Path, tree: str, no_network: None) -> None:
    deps = offline_dep(tmp_path, tree)
    mirror = tmp_path / "mirror"
    (mirror / "example.invalid/owner/lib/archive").mkdir(parents=True)
    (mirror / "example.invalid/owner/lib/archive/v1.0.zip").write_bytes(make_zip(FILES, TOP))
    fetcher = Fetcher(deps, settings(tmp_path / "w", offline=True, mirrors=[mirror.as_uri()]))
    assert fetcher.ensure("lib").is_dir()


def test_mirror_url_comes_before_upstream(tmp_path: Path, server: FaultServer, tree: str) -> None:
    folder = tmp_path / "third_party"
    upstream = "http://127.0.0.1:9/owner/lib/archive/v1.0.zip"  # discard port: never reached
    write_dep(folder, "lib", upstream, tree, top=TOP)
    server.routes["/m/" + mirror_path(upstream)] = Route(make_zip(FILES, TOP))
    fetcher = Fetcher(load_dependencies(folder), settings(tmp_path / "w", mirrors=[server.url("/m/")]),
                      log=lambda m: None)
    assert fetcher.ensure("lib").is_dir()
    assert [s.path for s in server.seen] == ["/m/127.0.0.1:9/owner/lib/archive/v1.0.zip"]
    assert fetcher.status("lib").source == "mirror"


def test_bad_mirror_falls_back_to_upstream(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree)
    mirror = tmp_path / "mirror"
    bad = mirror / mirror_path(server.url("/lib.zip"))
    bad.parent.mkdir(parents=True)
    bad.write_bytes(make_zip({"other": b"x"}, TOP))
    fetcher = Fetcher(deps, settings(root, mirrors=[str(mirror)]), log=lambda m: None)
    assert fetcher.ensure("lib").is_dir()
    assert fetcher.status("lib").source == "upstream"
    assert bad.exists()  # a user's mirror is reported, never deleted


# ---------------------------------------------------------------- local folders

def local_tree(tmp_path: Path) -> Path:
    local = tmp_path / "local-lib"
    for name, data in FILES.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    (local / ".git").mkdir()
    (local / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return local


def test_local_folder_verified_once(tmp_path: Path, tree: str, no_network: None,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    deps = offline_dep(tmp_path, tree)
    local = local_tree(tmp_path)
    s = settings(tmp_path / "w", offline=True, local_dirs={"lib": local})
    fetcher = Fetcher(deps, s, log=lambda m: None)
    assert fetcher.ensure("lib") == local
    assert fetcher.status("lib") .verified
    monkeypatch.setattr(treehash, "tree_hash", lambda *a, **k: pytest.fail("re-hashed an unchanged folder"))
    assert Fetcher(deps, s).ensure("lib") == local


def test_local_folder_mismatch(tmp_path: Path, tree: str, no_network: None) -> None:
    deps = offline_dep(tmp_path, tree)
    local = local_tree(tmp_path)
    s = settings(tmp_path / "w", offline=True, local_dirs={"lib": local})
    Fetcher(deps, s, log=lambda m: None).ensure("lib")
    (local / "src/lib.c").write_bytes(b"int lib(void) { return 2; }\n")  # an edit after verification
    with pytest.raises(FetchError) as error:
        Fetcher(deps, s, log=lambda m: None).ensure("lib")
    text = str(error.value)
    assert f"LIB_DIR={local}" in text and tree in text and "LIB_MODIFIED=1" in text
    assert "h1:" in text.split("tree hash is", 1)[1]


def test_local_folder_marked_modified(tmp_path: Path, tree: str, no_network: None) -> None:
    deps = offline_dep(tmp_path, tree)
    local = local_tree(tmp_path)
    (local / "src/lib.c").write_bytes(b"changed\n")
    env = {"LIB_DIR": str(local), "LIB_MODIFIED": "1", "TFLM_BUILD_OFFLINE": "1"}
    s = Settings.from_env(tmp_path / "w", env, {})
    lines: list[str] = []
    fetcher = Fetcher(deps, s, log=lines.append)
    assert fetcher.ensure("lib") == local
    assert any("warning" in line and "LIB_MODIFIED=1" in line for line in lines)
    assert not fetcher.status("lib").verified


# ---------------------------------------------------------------- patches

PATCH = textwrap.dedent("""\
    --- a/src/lib.c
    +++ b/src/lib.c
    @@ -1 +1 @@
    -int lib(void) { return 1; }
    +int lib(void) { return 42; }
    """)


def patched_deps(tmp_path: Path, tree: str, server: FaultServer | None) -> dict:
    """'lib' patched by a file that lives in the 'tools' dependency (as TFLM's patches do)."""
    folder = tmp_path / "third_party"
    tools_files = {"patches/lib.patch": PATCH.encode()}
    tools_tree = files_hash(tools_files, tmp_path / "scratch-tools")
    tools_url = "https://example.invalid/tools.zip"
    lib_url = server.url("/lib.zip") if server else "https://example.invalid/lib.zip"
    if server:
        server.routes["/lib.zip"] = Route(make_zip(FILES, TOP))
    write_dep(folder, "tools", tools_url, tools_tree)
    write_dep(folder, "lib", lib_url, tree, top=TOP,
              patches="patches:\n  - {path: patches/lib.patch, from: tools, strip: 1}\n")
    mirror = tmp_path / "mirror"
    (mirror / "example.invalid").mkdir(parents=True, exist_ok=True)
    (mirror / "example.invalid/tools.zip").write_bytes(make_zip(tools_files))
    return load_dependencies(folder)


def test_patch_applied_after_verification(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps = patched_deps(tmp_path, tree, server)
    s = settings(tmp_path / "w", mirrors=[str(tmp_path / "mirror")])
    path = Fetcher(deps, s, log=lambda m: None).ensure("lib")
    assert (path / "src/lib.c").read_bytes() == b"int lib(void) { return 42; }\n"


def test_local_folder_with_patches_is_copied_then_patched(tmp_path: Path, tree: str, no_network: None) -> None:
    deps = patched_deps(tmp_path, tree, None)
    local = local_tree(tmp_path)
    s = settings(tmp_path / "w", offline=True, mirrors=[str(tmp_path / "mirror")], local_dirs={"lib": local})
    path = Fetcher(deps, s, log=lambda m: None).ensure("lib")
    assert path.parent == tmp_path / "w" / "downloads" and path.name.startswith("lib-local-")
    assert (path / "src/lib.c").read_bytes() == b"int lib(void) { return 42; }\n"
    assert (local / "src/lib.c").read_bytes() == FILES["src/lib.c"]  # the user's folder is untouched
    assert not (path / ".git").exists()
    assert Fetcher(deps, s).status("lib").source == "local"
    # An already patched folder does not verify and says why.
    patched = tmp_path / "patched"
    patched.mkdir()
    os.rename(path, patched / "lib")
    s.local_dirs["lib"] = patched / "lib"
    with pytest.raises(FetchError, match="LIB_DIR"):
        Fetcher(deps, s, log=lambda m: None).ensure("lib")


def test_patch_edit_redoes_the_tree(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps = patched_deps(tmp_path, tree, server)
    tools = tmp_path / "tools-local"
    (tools / "patches").mkdir(parents=True)
    (tools / "patches/lib.patch").write_text(PATCH)
    s = settings(tmp_path / "w", local_dirs={"tools": tools}, modified_ok={"tools"})
    Fetcher(deps, s, log=lambda m: None).ensure("lib")
    (tools / "patches/lib.patch").write_text(PATCH.replace("42", "43"))
    path = Fetcher(deps, s, log=lambda m: None).ensure("lib")
    assert (path / "src/lib.c").read_bytes() == b"int lib(void) { return 43; }\n"
    assert len(server.seen) == 1  # re-patched from the cached archive


# ---------------------------------------------------------------- robustness

def test_interrupted_run_leaves_nothing_trusted(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree)
    s = settings(root)
    Fetcher(deps, s, log=lambda m: None).ensure("lib")
    # Simulate kill -9 during a re-fetch: the stamp was removed, temporaries are left.
    (root / "downloads" / ".stamps" / "lib.json").unlink()
    (root / "downloads" / "lib" / "src/lib.c").write_bytes(b"half written")
    (root / "downloads" / ".tmp-lib-0000dead").mkdir()
    partial = root / "cache" / "tmp" / f"{archive_key(deps['lib'].url)}-0000dead.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"partial")
    assert Fetcher(deps, s).status("lib").source == "missing"
    path = Fetcher(deps, s, log=lambda m: None).ensure("lib")
    assert (path / "src/lib.c").read_bytes() == FILES["src/lib.c"]
    assert leftovers(root) == []


def test_deleted_tree_is_fetched_again(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree)
    s = settings(root)
    path = Fetcher(deps, s, log=lambda m: None).ensure("lib")
    import shutil
    shutil.rmtree(path)
    assert Fetcher(deps, s, log=lambda m: None).ensure("lib").is_dir()


def test_unpinned_tree_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "third_party"
    write_dep(folder, "lib", "https://example.invalid/lib.zip", "h1:UNKNOWN")
    with pytest.raises(FetchError, match="tree hash not yet pinned"):
        Fetcher(load_dependencies(folder), settings(tmp_path)).ensure("lib")


def test_two_processes_at_once(tmp_path: Path, server: FaultServer, tree: str) -> None:
    deps, root = setup(tmp_path, server, tree)
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parent.parent)!r}]
        from pathlib import Path
        from fetch_helpers import settings
        from tflm_build.fetch.pins import load_dependencies
        from tflm_build.fetch.download import Fetcher
        deps = load_dependencies(Path({str(tmp_path / 'third_party')!r}))
        print(Fetcher(deps, settings(Path({str(root)!r})), log=lambda m: None).ensure("lib"))
        """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=30)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs == [str(root / "downloads" / "lib")] * 2
    assert len(server.seen) == 1
    assert leftovers(tmp_path) == []


def test_settings_from_env(tmp_path: Path) -> None:
    env = {"TFLM_BUILD_CACHE": str(tmp_path / "c"), "TFLM_BUILD_MIRROR": "/m1, https://m2/x  /m3",
           "TFLM_BUILD_OFFLINE": "1", "TFLM_ROOT": str(tmp_path / "env-tflm"), "FLATBUFFERS_DIR": "/fb",
           "TFLM_ROOT_MODIFIED": "1", "XDG_CACHE_HOME": "/ignored"}
    s = Settings.from_env(tmp_path, env, {"TFLM_ROOT": str(tmp_path / "var-tflm"), "KISSFFT_MODIFIED": "1"})
    assert s.cache_dir == tmp_path / "c"
    assert s.mirrors == ["/m1", "https://m2/x", "/m3"]
    assert s.offline
    assert s.downloads_dir == tmp_path / "third_party" / "downloads"
    assert s.local_dirs["tflite_micro"] == tmp_path / "var-tflm"  # variables win
    assert s.local_dirs["flatbuffers"] == Path("/fb")
    assert s.modified_ok >= {"tflite_micro", "kissfft"}
    default = Settings.from_env(tmp_path, {"XDG_CACHE_HOME": "/xdg"}, {})
    if sys.platform.startswith("linux"):
        assert default.cache_dir == Path("/xdg/tflm-build")
    assert not default.offline and default.mirrors == []
