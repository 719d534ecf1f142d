"""Benchmark: a clean build of a second checkout in another folder, warm CacheDir vs cold.

    TFLM_ROOT=<tflm tree> FLATBUFFERS_DIR=<tree> ... python bench/warm_cache.py [--goal microlite] [-j N]

Copies this repository twice into a temporary folder (as two checkouts would
be: different paths, each with its own gen/ and third_party/downloads/), builds
the goal in the first with an empty ``TFLM_BUILD_CACHE_DIR`` (cold), then in the
second with the cache the first filled (warm), and prints both times and their
ratio.  Both builds start from nothing but the cache, so the warm one still
reads the build files, installs the patched dependencies and hashes every input.
A benchmark, never a test: it needs the real TFLM tree and minutes of CPU.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def checkout(dest: Path, repo: Path = REPO) -> Path:
    """A copy of the repository's own files (of ``repo``: this one by default), as a fresh checkout has them."""
    shutil.copytree(repo, dest, ignore=shutil.ignore_patterns("gen", "downloads", "ci-out", "__pycache__", ".git",
                                                              ".pytest_cache", "*.egg-info"))
    return dest


def build(repo: Path, goal: str, jobs: int, env: dict[str, str]) -> tuple[float, str]:
    scons = shutil.which("scons") or "scons"
    started = time.monotonic()
    proc = subprocess.run([scons, "-C", str(repo), "-Q", f"-j{jobs}", goal], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"build in {repo} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goal", default="microlite")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", help="folder for the two checkouts and the cache (default: a temporary one)")
    ns = parser.parse_args()
    if not os.environ.get("TFLM_ROOT"):
        sys.exit("set TFLM_ROOT (and FLATBUFFERS_DIR, KISSFFT_DIR, GEMMLOWP_DIR, RUY_DIR) to the real trees")
    work = Path(ns.work or tempfile.mkdtemp(prefix="warm-cache-"))
    cache = work / "objects"
    env = {k: v for k, v in os.environ.items() if k != "SCONSFLAGS"}
    env.update({"TFLM_BUILD_CACHE_DIR": str(cache), "TFLM_BUILD_CACHE": str(work / "downloads-cache")})
    first, second = checkout(work / "one" / "tflm-build"), checkout(work / "elsewhere" / "second-checkout")
    cold, cold_out = build(first, ns.goal, ns.jobs, env)
    warm, warm_out = build(second, ns.goal, ns.jobs, env)
    compiled = len(re.findall(r"^\[ *\d+/\d+\] (?:CXX|CC|AS) ", cold_out, re.M))
    recompiled = len(re.findall(r"^\[ *\d+/\d+\] (?:CXX|CC|AS) ", warm_out, re.M))
    retrieved = len(re.findall(r"^\[ *\d+/\d+\] CACHED ", warm_out, re.M))
    print(f"goal {ns.goal} with -j{ns.jobs}, TFLM_ROOT={env['TFLM_ROOT']}")
    print(f"cold build, empty cache:        {cold:8.1f} s  ({compiled} files compiled)")
    print(f"warm build, second checkout:    {warm:8.1f} s  ({retrieved} steps from the cache, {recompiled} compiled)")
    print(f"ratio cold / warm:              {cold / warm:8.1f}x")
    for name, out in (("cold", cold_out), ("warm", warm_out)):
        print(f"{name} build's closing line: {out.rstrip().splitlines()[-1]}")
    if not ns.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
