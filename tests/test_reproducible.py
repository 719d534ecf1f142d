"""Two checkouts at different paths, same configuration: every object, library and program is byte-identical.

Debug builds (-g), so that the compile folder and source paths are in the
objects; the fixture's test macro prints __FILE__ as TFLM's does.  Each
checkout uses its own copy of the fixture trees (so every source path differs
too) and GEN_DIR inside itself.  A third checkout using the first one's
dependency trees (as checkouts sharing the download cache do) then builds from
its CacheDir: every step is a cache hit.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, Result, copy_repo, fixture_env, run_scons

CONFIGS = [
    pytest.param(["TARGET=linux", "BUILD_TYPE=debug"], "linux_x86_64_debug_gcc", id="linux"),
    pytest.param(["TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", "BUILD_TYPE=debug"],
                 "cortex_m_qemu_cortex-m4_debug_gcc",
                 id="cortex_m_qemu",
                 marks=pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None,
                                          reason="arm-none-eabi-g++ not found")),
]


def checkout(tmp: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A repository copy, and its own copies of the fixture trees beside it (as fetched trees would be)."""
    repo = copy_repo(tmp / name / "tflm-build")
    trees = tmp / name / "trees"
    shutil.copytree(FIXTURES, trees)
    env = fixture_env(tmp / name, tree=trees / "tflm_tree")
    for key, value in list(env.items()):
        if key.endswith("_DIR") and value.startswith(str(FIXTURES)):
            env[key] = str(trees / Path(value).relative_to(FIXTURES))
    return repo, env


def build(repo: Path, env: dict[str, str], args: list[str]) -> Result:
    res = run_scons([*args, "build", "microlite"], env, repo)
    assert res.returncode == 0, res.output
    return res


def outputs(top: Path) -> dict[str, bytes]:
    files = [p for p in top.rglob("*") if p.is_file() and (p.suffix in (".o", ".a") or p.parent.name == "bin"
                                                            and not p.suffix)]
    return {str(p.relative_to(top)): p.read_bytes() for p in files}


@pytest.mark.parametrize("args, config", CONFIGS)
def test_two_checkouts_build_identical_bytes(tmp_path: Path, args: list[str], config: str) -> None:
    (a, env_a), (b, env_b) = checkout(tmp_path, "first"), checkout(tmp_path, "second-checkout")
    cache = tmp_path / "cache-dir"
    build(a, env_a, [*args, f"CACHE_DIR={cache}"])
    build(b, env_b, args)
    first, second = outputs(a / "gen" / config), outputs(b / "gen" / config)
    assert sum(name.endswith(".o") for name in first) >= 10 and any(n.endswith(".a") for n in first)
    assert any(n.startswith("bin/") for n in first)
    assert sorted(first) == sorted(second)
    assert [n for n in first if first[n] != second[n]] == []
    text = b"".join(first.values()).decode("latin-1")
    assert str(tmp_path) not in text and "/tflm-deps/tflite_micro/" in text

    # The dependency trees of a checkout normally come from the shared download cache: same folders.
    c = copy_repo(tmp_path / "third" / "tflm-build")
    hits = build(c, env_a, [*args, f"CACHE_DIR={cache}"])
    assert "CXX " not in hits.stdout and "CACHED " in hits.stdout, hits.stdout
    assert outputs(c / "gen" / config) == first
