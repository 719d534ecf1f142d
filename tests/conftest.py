"""Shared test helpers: run scons on the fixture tree (or the real one) in a temp output folder."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
FIXTURE_TREE = FIXTURES / "tflm_tree"
FIXTURE_DEPS = FIXTURES / "deps"
SCONS = shutil.which("scons") or "scons"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def compiled(stdout: str) -> list[str]:
    """Stems of the files a build's output says it compiled (short 'CXX <file>' step lines)."""
    return sorted(Path(m).stem for m in re.findall(r"\bCXX\s+(\S+)", stdout))


def fixture_env(tmp: Path, tree: Path = FIXTURE_TREE) -> dict[str, str]:
    """Environment pointing every dependency at the fixture trees, offline."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DIR") and k not in {"TFLM_ROOT", "SCONSFLAGS"}}
    env.update({
        "TFLM_ROOT": str(tree),
        "TFLM_ROOT_MODIFIED": "1",
        "TFLM_BUILD_OFFLINE": "1",
        "TFLM_BUILD_CACHE": str(tmp / "cache"),
    })
    for dep in ("flatbuffers", "gemmlowp", "kissfft", "ruy", "cmsis", "cmsis_nn", "cortex_dfp"):
        env[f"{dep.upper()}_DIR"] = str(FIXTURE_DEPS / dep)
        env[f"{dep.upper()}_MODIFIED"] = "1"
    return env


def run_scons(args: list[str], env: Mapping[str, str], repo: Path = REPO, cwd: Path | None = None,
              timeout: int = 600) -> Result:
    """Run scons -C <repo> with the given arguments; never raises on failure."""
    proc = subprocess.run([SCONS, "-C", str(repo), "-Q", *args], env=dict(env), cwd=str(cwd or repo),
                          capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def copy_repo(dest: Path) -> Path:
    """A copy of this repository's own files (no gen/, no downloads), for tests that edit YAML."""
    ignore = shutil.ignore_patterns("gen", "downloads", "__pycache__", ".git", ".pytest_cache", "*.egg-info")
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


@pytest.fixture
def fx(tmp_path: Path) -> "Fixture":
    return Fixture(tmp_path)


class Fixture:
    """Runs scons on the fixture tree with outputs under a temp folder."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.gen = tmp / "gen"
        self.env = fixture_env(tmp)
        self.repo = REPO

    def scons(self, *args: str, repo: Path | None = None, cwd: Path | None = None,
              env: Mapping[str, str] | None = None) -> Result:
        return run_scons([f"GEN_DIR={self.gen}", *args], {**self.env, **(env or {})}, repo or self.repo, cwd)

    def gendir(self, name: str = "linux_x86_64_default_gcc") -> Path:
        return self.gen / name


def real_tflm() -> Path | None:
    root = os.environ.get("TFLM_ROOT")
    return Path(root) if root and (Path(root) / "tensorflow/lite/micro").is_dir() else None


requires_tflm = pytest.mark.skipif(real_tflm() is None, reason="skipped: set TFLM_ROOT to a TFLM tree at the pin")
