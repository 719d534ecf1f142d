"""Dependency files, tree hashes and the fetch/deps/vendor commands."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Iterator

import pytest

from fetch_helpers import files_hash, make_zip, settings, write_dep
from tflm_build.fetch import pins as deps_module
from tflm_build.cli.deps import deps_command, fetch_command, vendor_command
from tflm_build.fetch.pins import TFLM, load_dependencies, needed, parse_dependency
from tflm_build.errors import ConfigError
from tflm_build.fetch.download import Fetcher, Settings
from tflm_build.fetch.treehash import hash_lines, tree_hash

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "third_party"

# The `tflm` marker is registered by the lead in pyproject.toml ([tool.pytest.ini_options] markers).


@pytest.fixture(autouse=True)
def fresh_dep_cache() -> Iterator[None]:
    deps_module._CACHE.clear()
    yield
    deps_module._CACHE.clear()


def test_shipped_dependencies_load() -> None:
    deps = load_dependencies(SHIPPED)
    assert set(deps) >= {TFLM, "flatbuffers", "kissfft", "gemmlowp", "ruy", "cmsis", "cmsis_nn", "cortex_dfp",
                         "ambiq_suite_sdk", "sparkfun_bsps"}
    for dep in deps.values():
        assert dep.url.startswith("https://github.com/") and dep.strip_prefix
        assert dep.version[:7] in dep.url or dep.version.lstrip("v") in dep.strip_prefix
    assert deps["flatbuffers"].patches[0].from_dep == TFLM
    assert deps[TFLM].env_var == "TFLM_ROOT" and deps["cmsis_nn"].env_var == "CMSIS_NN_DIR"
    assert deps["cortex_dfp"].build.include_dirs == ("Device/{ARM_CPU}/Include",)
    unpinned = sorted(name for name, dep in deps.items() if not dep.pinned)
    assert unpinned == []  # every shipped dependency has its tree hash


def test_needed_follows_targets_and_kernel_dirs() -> None:
    deps = load_dependencies(SHIPPED)
    assert needed(deps, ["linux", "_common"], None) == [TFLM, "flatbuffers", "gemmlowp", "kissfft", "ruy"]
    generic = needed(deps, ["cortex_m_qemu", "cortex_m_generic", "_common"], None)
    assert {"cmsis", "cortex_dfp"} <= set(generic) and "cmsis_nn" not in generic
    assert {"cmsis", "cmsis_nn"} <= set(needed(deps, ["linux"], "cmsis_nn"))
    assert "ambiq_suite_sdk" in needed(deps, ["sparkfun_edge"], None)


def test_makefile_third_party_headers_for_linux() -> None:
    """The headers of the linux build's dependencies, in order, are the Makefile's list."""
    deps = load_dependencies(SHIPPED)
    listed = [f"{name}/{header}" for name in needed(deps, ["linux"], None) for header in deps[name].build.headers]
    flat = ("allocator array base buffer buffer_ref code_generator code_generators default_allocator "
            "detached_buffer file_manager flatbuffer_builder flatbuffers flex_flat_util flexbuffers grpc hash "
            "idl minireflect reflection reflection_generated registry stl_emulation string struct table util "
            "vector vector_downward verifier").split()
    assert listed == [f"flatbuffers/include/flatbuffers/{h}.h" for h in flat] + [
        "flatbuffers/LICENSE", "gemmlowp/fixedpoint/fixedpoint.h", "gemmlowp/fixedpoint/fixedpoint_neon.h",
        "gemmlowp/fixedpoint/fixedpoint_sse.h", "gemmlowp/internal/detect_platform.h", "gemmlowp/LICENSE",
        "kissfft/COPYING", "kissfft/kiss_fft.c", "kissfft/kiss_fft.h", "kissfft/_kiss_fft_guts.h",
        "kissfft/tools/kiss_fftr.c", "kissfft/tools/kiss_fftr.h", "ruy/ruy/profiler/instrumentation.h"]


@pytest.mark.parametrize("text, key, line", [
    ("name: x\nversion: '1'\nlicense: MIT\nurl: https://a/b.zip\ntree: h1:x\nbogus: 1\n", "bogus", 6),
    ("name: x\nversion: 1\nlicense: MIT\nurl: https://a/b.zip\ntree: h1:x\n", "version", 2),
    ("name: x\nversion: '1'\nlicense: MIT\nurl: https://a/b.zip\n" + "tree: \"h1:" + "A" * 43 + "=\"\n"
     "build:\n  include_dirs: include\n", "build.include_dirs", 7),
    ("name: y\nversion: '1'\nlicense: MIT\nurl: https://a/b.zip\ntree: h1:x\n", "name", 1),
    ("name: x\nversion: '1'\nlicense: MIT\nurl: https://a/b.zip\ntree: h1:x\n", "tree", 5),
    ("name: x\nversion: '1'\nlicense: MIT\nurl: ftp://a/b.zip\ntree: \"h1:" + "A" * 43 + "=\"\n", "url", 4),
    ("name: x\nversion: '1'\nlicense: MIT\nurl: https://a/b.zip\ntree: \"h1:" + "A" * 43 + "=\"\n"
     "patches:\n  - {path: p, strip: one}\n", "patches[0].strip", 7),
])
def test_bad_files_name_file_line_and_key(tmp_path: Path, text: str, key: str, line: int) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        parse_dependency(path)
    assert (error.value.file, error.value.line, error.value.key) == (path, line, key)
    assert str(path) in error.value.render()


def test_patch_from_unknown_dependency(tmp_path: Path) -> None:
    write_dep(tmp_path, "a", "https://x/a.zip", "h1:" + "A" * 43 + "=",
              patches="patches:\n  - {path: p.patch, from: nosuch}\n")
    with pytest.raises(ConfigError, match="unknown dependency 'nosuch'"):
        load_dependencies(tmp_path)


def test_tree_hash_definition(tmp_path: Path) -> None:
    """Go's dirhash Hash1 without a module prefix, symlinks as their target, VCS folders skipped."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b/z.txt").write_bytes(b"z\n")
    (tmp_path / "a.txt").write_bytes(b"a\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/HEAD").write_text("x")
    os.symlink("b/z.txt", tmp_path / "link")
    lines = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                    for name, data in sorted({"a.txt": b"a\n", "b/z.txt": b"z\n", "link": b"b/z.txt"}.items()))
    expected = "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()
    assert tree_hash(tmp_path) == expected
    assert hash_lines([("x", "0" * 64)]) == "h1:" + base64.b64encode(
        hashlib.sha256(("0" * 64 + "  x\n").encode()).digest()).decode()
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen/obj.o").write_bytes(b"o")
    assert tree_hash(tmp_path, ["/gen"]) == expected != tree_hash(tmp_path)


@pytest.mark.tflm
@pytest.mark.skipif(not os.environ.get("TFLM_ROOT"), reason="set TFLM_ROOT")
def test_real_tflm_tree_matches_pin() -> None:
    dep = load_dependencies(SHIPPED)[TFLM]
    assert tree_hash(Path(os.environ["TFLM_ROOT"]), dep.local_ignore) == dep.tree


# ---------------------------------------------------------------- commands

FILES = {"a/x.h": b"x\n", "LICENSE": b"MIT\n"}


def tiny(tmp_path: Path) -> tuple[dict, Path]:
    """Two dependencies served from a file:// 'upstream' folder."""
    upstream = tmp_path / "upstream"
    folder = tmp_path / "third_party"
    for name in ("one", "two"):
        archive = upstream / f"{name}.zip"
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(make_zip(FILES, f"{name}-1"))
        write_dep(folder, name, archive.as_uri(), files_hash(FILES, tmp_path / f"s-{name}"), top=f"{name}-1")
    return load_dependencies(folder), upstream


def test_vendor_then_offline_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    deps, upstream = tiny(tmp_path)
    vendor = tmp_path / "vendor"
    fetcher = Fetcher(deps, settings(tmp_path / "w1"), log=lambda m: None)
    assert vendor_command(vendor, [], deps, fetcher) == 0
    for name in ("one", "two"):
        assert (vendor / str(upstream).lstrip("/") / f"{name}.zip").is_file()
    for archive in upstream.iterdir():
        archive.unlink()  # upstream gone: only the vendored mirror is left
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("connection opened"))
    env = {"TFLM_BUILD_OFFLINE": "1", "TFLM_BUILD_MIRROR": str(vendor), "TFLM_BUILD_CACHE": str(tmp_path / "c2")}
    offline = Fetcher(deps, Settings.from_env(tmp_path / "fresh", env, {}), log=lambda m: None)
    assert fetch_command([], offline, deps, ["one", "two"]) == 0
    assert (tmp_path / "fresh/third_party/downloads/two/a/x.h").read_bytes() == b"x\n"
    capsys.readouterr()
    assert deps_command(offline, []) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "VERSION", "FROM", "VERIFIED", "PATH"]
    assert table[1].split()[:4] == ["one", "1.0", "mirror", "yes"]
    assert deps_command(offline, [], as_json=True) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["one"]["source"] == "mirror" and rows["one"]["verified"] is True
    assert rows["one"]["path"] == table[1].split()[4]


def test_vendor_a_verified_local_folder(tmp_path: Path) -> None:
    deps, upstream = tiny(tmp_path)
    local = tmp_path / "local-one"
    for name, data in FILES.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    vendor = tmp_path / "vendor"
    fetcher = Fetcher(deps, settings(tmp_path / "w", local_dirs={"one": local}), log=lambda m: None)
    assert vendor_command(vendor, ["one"], deps, fetcher) == 0
    offline = Fetcher(deps, settings(tmp_path / "w2", offline=True, mirrors=[str(vendor)]), log=lambda m: None)
    assert (offline.ensure("one") / "LICENSE").read_bytes() == b"MIT\n"


def test_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deps, upstream = tiny(tmp_path)
    fetcher = Fetcher(deps, settings(tmp_path / "w", offline=True), log=lambda m: None)
    assert fetch_command(["nosuch"], fetcher, deps, []) == 2
    assert "unknown dependency 'nosuch'" in capsys.readouterr().out
    (upstream / "one.zip").unlink()
    assert fetch_command(["one", "two"], fetcher, deps, []) == 1
    out = capsys.readouterr().out
    assert "not available offline" in out and "two: " in out
    assert deps_command(fetcher, ["one"]) == 0
    assert "missing" in capsys.readouterr().out
    assert vendor_command(tmp_path / "v", ["one"], deps, fetcher) == 1
