"""Dependencies that follow the TFLM tree in use, and `tflm-build deps pin`.

Two fixture TFLM trees stand for two TFLM versions: the committed one, whose
download scripts name our pins, and one made here from it whose
flatbuffers_download.sh names an older flatbuffers (its MD5 is that of the
archive this test serves) and whose flatbuffers.patch fits that release.  A
mirror folder serves the fixture dependency trees at the URLs both name, so
every build goes through the fetcher, offline.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURE_DEPS, FIXTURE_TREE, FIXTURES, REPO, copy_repo, real_tflm, requires_tflm, run_scons
from fetch_helpers import FaultServer, Route, make_zip

from tflm_build.cli.pin import rewrite_yaml
from tflm_build.fetch.download import mirror_path, write_tree_zip
from tflm_build.fetch.pins import load_dependencies
from tflm_build.fetch.tree_pins import OLDEST_COMMIT, TflmTree, read_named, same_archive
from tflm_build.fetch.treehash import tree_hash

HOST_DEPS = ("flatbuffers", "gemmlowp", "kissfft", "ruy")
OLDER_FLATBUFFERS = FIXTURES / "deps_v23" / "flatbuffers"
OLDER_URL = "https://github.com/google/flatbuffers/archive/v23.5.26.zip"
SCRIPTS = "tensorflow/lite/micro/tools/make"
OLDER_PATCH = """--- a/include/flatbuffers/base.h
+++ b/include/flatbuffers/base.h
@@ -2,4 +2,5 @@
 #ifndef FIXTURE_FLATBUFFERS_BASE_H_
 #define FIXTURE_FLATBUFFERS_BASE_H_
 #define FIXTURE_FLATBUFFERS_VERSION "23.5.26"
+#define FIXTURE_FLATBUFFERS_PATCHED 1
 #endif
"""


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _older_tree(dest: Path, mirror: Path, md5: str | None = None) -> Path:
    """The second fixture TFLM version: flatbuffers v23.5.26 named with the MD5 of the mirror's archive."""
    shutil.copytree(FIXTURE_TREE, dest)
    archive = mirror / mirror_path(OLDER_URL)
    script = dest / SCRIPTS / "flatbuffers_download.sh"
    script.write_text('#!/bin/bash\nZIP_PREFIX="v23.5.26"\n'
                      'FLATBUFFERS_URL="https://github.com/google/flatbuffers/archive/${ZIP_PREFIX}.zip"\n'
                      f'FLATBUFFERS_MD5="{md5 or _md5(archive)}"\n')
    (dest / SCRIPTS / "flatbuffers.patch").write_text(OLDER_PATCH)
    return dest


class Setup:
    """A repository copy pinned to the fixture trees, a mirror serving them, and the older TFLM tree."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.repo = copy_repo(tmp / "repo")
        self.mirror = tmp / "mirror"
        deps = load_dependencies(self.repo / "third_party")
        for name in ("tflite_micro", *HOST_DEPS):
            dep = deps[name]
            tree = FIXTURE_TREE if name == "tflite_micro" else FIXTURE_DEPS / name
            write_tree_zip(tree, dep.strip_prefix or "", self.mirror / mirror_path(dep.url), dep.local_ignore)
            rewrite_yaml(dep.file, {"tree": tree_hash(tree, dep.local_ignore)})
        write_tree_zip(OLDER_FLATBUFFERS, "flatbuffers-23.5.26", self.mirror / mirror_path(OLDER_URL))
        self.older = _older_tree(tmp / "tflm_older", self.mirror)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.endswith(("_DIR", "_MODIFIED")) and k not in {"TFLM_ROOT", "SCONSFLAGS"}}
        self.env.update({"TFLM_BUILD_OFFLINE": "1", "TFLM_BUILD_MIRROR": str(self.mirror),
                         "TFLM_BUILD_CACHE": str(tmp / "cache"), "PYTHONPATH": str(self.repo)})

    def scons(self, *args: str, gen: str = "gen"):
        return run_scons([f"GEN_DIR={self.tmp / gen}", *args], self.env, repo=self.repo)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tflm_build.cli", *args], cwd=self.repo,
                              env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=300)

    def publish_tflm(self, tree: Path, commit: str) -> None:
        """Serve ``tree`` as the TFLM archive of ``commit``."""
        url = f"https://github.com/tensorflow/tflite-micro/archive/{commit}.zip"
        write_tree_zip(tree, f"tflite-micro-{commit}", self.mirror / mirror_path(url))

    def downloads_leftovers(self) -> list[str]:
        folder = self.repo / "third_party" / "downloads"
        return sorted(p.name for p in folder.iterdir() if p.name.startswith((".pin-", ".tmp-", ".old-"))) \
            if folder.is_dir() else []


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def _dependency_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("tflm-build: dependencies of")]
    assert len(lines) == 1, output
    return lines[0]


def test_each_tree_builds_with_the_versions_it_names(setup: Setup) -> None:
    pinned = setup.scons("run_hello_world")
    assert pinned.returncode == 0, pinned.output
    assert "flatbuffers 25.9.23" in pinned.stdout
    line = _dependency_line(pinned.output)
    assert re.search(r"flatbuffers v25\.9\.23 \(named by flatbuffers_download\.sh:\d+, pinned: tree hash verified\)",
                     line), line

    older = setup.scons("run_hello_world", f"TFLM_ROOT={setup.older}", "TFLM_ROOT_MODIFIED=1", gen="gen_older")
    assert older.returncode == 0, older.output
    assert "flatbuffers 23.5.26" in older.stdout  # the program was compiled against the older headers
    line = _dependency_line(older.output)
    assert "flatbuffers v23.5.26 (named by flatbuffers_download.sh:3, not pinned in third_party/flatbuffers.yaml: " \
           "archive MD5 checked, tree hash not verified)" in line, line
    assert "kissfft v130 (named by kissfft_download.sh:3, pinned: tree hash verified)" in line, line
    # That tree's own patch fits its flatbuffers (ours would not apply).
    installed = setup.repo / "third_party/downloads/flatbuffers/include/flatbuffers/base.h"
    assert "FIXTURE_FLATBUFFERS_PATCHED" in installed.read_text() and '"23.5.26"' in installed.read_text()

    local = setup.scons("list_third_party_headers", f"TFLM_ROOT={setup.older}", "TFLM_ROOT_MODIFIED=1",
                        f"FLATBUFFERS_DIR={OLDER_FLATBUFFERS}", "FLATBUFFERS_MODIFIED=1", gen="gen_local")
    assert local.returncode == 0, local.output
    assert f"FLATBUFFERS_DIR={OLDER_FLATBUFFERS} wins over v23.5.26" in _dependency_line(local.output)


def test_pin_tflite_micro_reports_what_the_tree_changes(setup: Setup) -> None:
    commit = "f1" * 20
    setup.publish_tflm(setup.older, commit)
    before = (setup.repo / "third_party/flatbuffers.yaml").read_text()
    res = setup.cli("deps", "pin", "tflite_micro", commit)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert f"tflite_micro: pinned f1f1f1f1f1f1 (was 90b983c2b3f1): tree {tree_hash(setup.older)} from the mirror" \
        in out
    assert re.search(r"flatbuffers v23\.5\.26 \(named by flatbuffers_download\.sh:3\), ours v25\.9\.23: builds fetch "
                     r"v23\.5\.26 and check its MD5; pin it with `tflm-build deps pin flatbuffers v23\.5\.26`", out), out
    assert "kissfft v130: same as our pin" in out
    assert "every folder and file sources/tflm.yaml, examples/ and targets/ name is in TFLM f1f1f1f1f1f1" in out
    if shutil.which("make"):  # the fixture tree's Makefile answers two list goals
        assert "  list_library_sources: 7 of 7 match\n" in out, out
        assert "  list_hello_world_example_sources: 3 of 3 match\n" in out, out
        assert "  list_library_headers: the Makefile has no such goal here\n" in out, out
    pin = (setup.repo / "third_party/tflite_micro.yaml").read_text()
    assert f"version: {commit}\n" in pin and f'tree: "{tree_hash(setup.older)}"' in pin
    assert pin.startswith("# TensorFlow Lite Micro itself")  # comments kept
    assert (setup.repo / "third_party/flatbuffers.yaml").read_text() == before

    moved = setup.cli("deps", "pin", "flatbuffers", "v23.5.26")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    md5 = _md5(setup.mirror / mirror_path(OLDER_URL))
    assert f"archive MD5 {md5} as flatbuffers_download.sh:3 names" in moved.stdout
    text = (setup.repo / "third_party/flatbuffers.yaml").read_text()
    assert f'tree: "{tree_hash(OLDER_FLATBUFFERS)}"' in text and f"url: {OLDER_URL}\n" in text
    assert "sha256: null  # GitHub archives are not byte stable" in text

    build = setup.scons("run_hello_world")  # the pinned TFLM, now the older one, from the mirror
    assert build.returncode == 0, build.output
    assert "flatbuffers 23.5.26" in build.stdout
    assert "flatbuffers v23.5.26 (named by flatbuffers_download.sh:3, pinned: tree hash verified)" in \
        _dependency_line(build.output)
    assert setup.downloads_leftovers() == []


def test_pin_names_what_the_data_cannot_express(setup: Setup) -> None:
    renamed = setup.tmp / "tflm_renamed"
    shutil.copytree(setup.older, renamed)
    example = renamed / "tensorflow/lite/micro/examples/hello_world"
    (example / "hello_world_test.cc").rename(example / "hello_world_main.cc")
    shutil.rmtree(renamed / "tensorflow/lite/micro/kernels/cmsis_nn")
    (renamed / "tensorflow/lite/micro/moved").mkdir()
    (renamed / "tensorflow/lite/micro/moved/arena.cc").write_text("int fixture_arena;\n")
    makefile = renamed / SCRIPTS / "Makefile"
    makefile.write_text(makefile.read_text().replace("tensorflow/lite/micro/*.cc ",
                                                     "tensorflow/lite/micro/*.cc tensorflow/lite/micro/moved/*.cc "))
    setup.publish_tflm(renamed, "e2" * 20)
    res = setup.cli("deps", "pin", "tflite_micro", "e2" * 20)
    assert res.returncode == 0, res.stdout + res.stderr
    assert ("examples/hello_world.yaml: TFLM e2e2e2e2e2e2 has no tensorflow/lite/micro/examples/hello_world/"
            "hello_world_test.cc (key 'programs.hello_world.sources'): the file was renamed or removed; change "
            "'programs.hello_world.sources'") in res.stdout
    assert re.search(r"targets/cortex_m_generic\.yaml:\d+: TFLM e2e2e2e2e2e2 has no tensorflow/lite/micro/kernels/"
                     r"cmsis_nn \(key 'optimized_kernel_dir\.allowed'\): the folder moved", res.stdout), res.stdout
    if shutil.which("make"):
        assert ("list_library_sources: 7 of 8 match; the Makefile also lists tensorflow/lite/micro/moved/arena.cc: "
                "change sources/tflm.yaml") in res.stdout, res.stdout


def test_checksum_mismatch_is_refused_and_nothing_kept(setup: Setup) -> None:
    wrong = _older_tree(setup.tmp / "tflm_wrong_md5", setup.mirror, md5="0" * 32)
    res = setup.scons("hello_world", f"TFLM_ROOT={wrong}", "TFLM_ROOT_MODIFIED=1")
    assert res.returncode == 2, res.output
    assert f"{wrong / SCRIPTS / 'flatbuffers_download.sh'}:3: flatbuffers v23.5.26, named by the TFLM tree at " \
           f"{wrong}: archive checksum mismatch" in res.stderr, res.stderr
    assert "REPACKED=1" in res.stderr and "Traceback" not in res.output
    assert not (setup.repo / "third_party/downloads/flatbuffers").exists()
    assert setup.downloads_leftovers() == []

    before = (setup.repo / "third_party/flatbuffers.yaml").read_text()
    pin = setup.cli("deps", "pin", "flatbuffers", "v23.5.26", env={"TFLM_ROOT": str(wrong),
                                                                    "TFLM_ROOT_MODIFIED": "1"})
    assert pin.returncode == 2 and "checksum mismatch" in pin.stdout, pin.stdout + pin.stderr
    assert (setup.repo / "third_party/flatbuffers.yaml").read_text() == before
    repacked = setup.cli("deps", "pin", "flatbuffers", "v23.5.26", "REPACKED=1",
                         env={"TFLM_ROOT": str(wrong), "TFLM_ROOT_MODIFIED": "1"})
    assert repacked.returncode == 0 and "archive MD5 not checked (REPACKED=1)" in repacked.stdout, repacked.stdout
    assert setup.downloads_leftovers() == []


def test_a_tree_too_old_is_refused_with_the_first_commit_served(setup: Setup) -> None:
    old = setup.tmp / "tflm_old"
    shutil.copytree(FIXTURE_TREE, old)
    (old / SCRIPTS / "ext_libs/cmsis_nn_download.sh").unlink()
    res = setup.scons("hello_world", f"TFLM_ROOT={old}", "TFLM_ROOT_MODIFIED=1")
    assert res.returncode == 2, res.output
    assert f"is too old for tflm-build: it has no {SCRIPTS}/ext_libs/cmsis_nn_download.sh" in res.stderr
    assert f"use TFLM from commit {OLDEST_COMMIT[:12]} (2023-06-13) on" in res.stderr

    setup.publish_tflm(old, "d3" * 20)
    before = (setup.repo / "third_party/tflite_micro.yaml").read_text()
    pin = setup.cli("deps", "pin", "tflite_micro", "d3" * 20)
    assert pin.returncode == 2 and "TFLM d3d3d3d3d3d3 is too old" in pin.stdout, pin.stdout + pin.stderr
    assert (setup.repo / "third_party/tflite_micro.yaml").read_text() == before
    assert setup.downloads_leftovers() == []


def test_pin_a_version_upstream_does_not_have(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    server = FaultServer()
    try:
        old = "719139ce755a0f31cbf1c37f7f98adcc7fc9f425"
        new = "a" * 40
        files = {p.relative_to(FIXTURE_DEPS / "gemmlowp").as_posix(): p.read_bytes()
                 for p in (FIXTURE_DEPS / "gemmlowp").rglob("*") if p.is_file()}
        server.routes[f"/gemmlowp/archive/{new}.zip"] = Route(make_zip(files, f"gemmlowp-{new}"))
        path = repo / "third_party/gemmlowp.yaml"
        rewrite_yaml(path, {"url": server.url(f"/gemmlowp/archive/{old}.zip")})
        before = path.read_text()
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_DIR", "_MODIFIED"))}
        env.update({"TFLM_ROOT": str(FIXTURE_TREE), "TFLM_ROOT_MODIFIED": "1", "PYTHONPATH": str(repo),
                    "TFLM_BUILD_CACHE": str(tmp_path / "cache")})

        def pin(version: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "tflm_build.cli", "deps", "pin", "gemmlowp", version],
                                  cwd=repo, env=env, capture_output=True, text=True, timeout=120)

        missing = pin("b" * 40)
        assert missing.returncode == 2, missing.stdout + missing.stderr
        assert f"gemmlowp {'b' * 40} does not exist upstream" in missing.stdout
        assert path.read_text() == before
        short = pin("abc123")
        assert short.returncode == 2 and "not a full 40-digit commit" in short.stdout
        server.routes[f"/gemmlowp/archive/{'c' * 40}.zip"] = Route(b"", faults=["500"] * 10)
        failed = pin("c" * 40)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert path.read_text() == before
        done = pin(new)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f'tree: "{tree_hash(FIXTURE_DEPS / "gemmlowp")}"' in path.read_text()
        assert f"strip_prefix: gemmlowp-{new}\n" in path.read_text()
    finally:
        server.stop()


@pytest.mark.tflm
@requires_tflm
def test_our_pins_are_what_the_pinned_tflm_names() -> None:
    """At the pin every dependency the download scripts name is the one third_party/ pins (so it is verified)."""
    named = read_named(TflmTree(real_tflm(), None))
    deps = load_dependencies(REPO / "third_party")
    assert set(named) == {"flatbuffers", "kissfft", "gemmlowp", "ruy", "cmsis", "cortex_dfp", "cmsis_nn"}
    assert [n for n, found in named.items() if not same_archive(found.url, deps[n].url)] == []
