"""`tflm-build vendor` into a folder, then a fresh checkout builds offline from it as a mirror."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURE_DEPS, FIXTURE_TREE, copy_repo, fixture_env, run_scons

from tflm_build.fetch.pins import load_dependencies
from tflm_build.fetch.treehash import tree_hash

HOST_DEPS = ("tflite_micro", "flatbuffers", "gemmlowp", "kissfft", "ruy")


def _pin_fixture_trees(repo: Path) -> None:
    """Make the copy's pins name the fixture trees, as if they were the upstream releases."""
    deps = load_dependencies(repo / "third_party")
    for name in HOST_DEPS:
        tree = FIXTURE_TREE if name == "tflite_micro" else FIXTURE_DEPS / name
        path = repo / "third_party" / f"{name}.yaml"
        text = re.sub(r'^tree: ".*"$', f'tree: "{tree_hash(tree, deps[name].local_ignore)}"', path.read_text(),
                      flags=re.M)
        path.write_text(text)


def test_vendor_then_offline_build_from_mirror(tmp_path: Path) -> None:
    first = copy_repo(tmp_path / "first")
    _pin_fixture_trees(first)
    mirror = tmp_path / "mirror"
    env = {k: v for k, v in fixture_env(tmp_path).items() if not k.endswith("_MODIFIED")}
    env["TFLM_BUILD_CACHE"] = str(tmp_path / "cache1")
    vendor = subprocess.run([sys.executable, "-m", "tflm_build.cli", "vendor", str(mirror)], cwd=first, env=env,
                            capture_output=True, text=True, timeout=300)
    assert vendor.returncode == 0, vendor.stdout + vendor.stderr
    archives = sorted(p.relative_to(mirror).as_posix() for p in mirror.rglob("*.zip"))
    assert "github.com/google/flatbuffers/archive/refs/tags/v25.9.23.zip" in archives
    assert len(archives) == len(HOST_DEPS)

    fresh = copy_repo(tmp_path / "fresh")
    _pin_fixture_trees(fresh)
    offline = {k: v for k, v in os.environ.items()
               if not k.endswith(("_DIR", "_MODIFIED")) and k not in {"TFLM_ROOT", "SCONSFLAGS"}}
    offline.update({"TFLM_BUILD_OFFLINE": "1", "TFLM_BUILD_MIRROR": str(mirror),
                    "TFLM_BUILD_CACHE": str(tmp_path / "cache2")})
    res = run_scons([f"GEN_DIR={tmp_path / 'gen'}", "run_hello_world"], offline, repo=fresh)
    assert res.returncode == 0, res.output
    assert "~~~ALL TESTS PASSED~~~" in res.stdout
    downloads = fresh / "third_party" / "downloads"
    assert {p.name for p in downloads.iterdir() if not p.name.startswith(".")} == set(HOST_DEPS)
    # The patches of TFLM's tree were applied to the mirror's pristine flatbuffers and kissfft.
    assert "FIXTURE_FLATBUFFERS_PATCHED" in (downloads / "flatbuffers/include/flatbuffers/base.h").read_text()
    again = run_scons([f"GEN_DIR={tmp_path / 'gen'}", "run_hello_world"], offline, repo=fresh)
    assert again.returncode == 0 and "verifying" not in again.output  # verified trees are not re-hashed
