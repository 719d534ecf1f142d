"""Benchmark (not a test): generating hello_world's project vs TFLM's create_tflm_tree.py, side by side.

    TFLM_MAKE_ROOT=<tflm checkout for make> TFLM_ROOT=<tflm tree> FLATBUFFERS_DIR=<tree> ... \\
        python bench/project_generation.py [--target linux] [--kind make] [--runs 1]

TFLM_MAKE_ROOT is a TFLM checkout whose Makefile works (downloads populated; the script calls
make eight times); TFLM_ROOT and the <NAME>_DIR variables are what our build uses.  Each run
generates into fresh temporary folders, TFLM's tree first, then ours; then ours again with
nothing changed.  Goal: ours <= 0.1x TFLM's, and the no-change regeneration under 1 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCONS = shutil.which("scons") or "scons"
TFLM_TARGETS = {"linux": [], "cortex_m_qemu": ["TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m3"]}


# As a user's shell has it: Python writes its bytecode (an environment that sets PYTHONDONTWRITEBYTECODE
# would make every run recompile our modules).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _timed(argv: list[str], cwd: Path) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=ENV)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def _count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="linux", choices=sorted(TFLM_TARGETS))
    parser.add_argument("--kind", default="make")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    make_root = Path(os.environ.get("TFLM_MAKE_ROOT", ""))
    script = make_root / "tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py"
    if not script.is_file():
        sys.exit("set TFLM_MAKE_ROOT to a TFLM checkout whose Makefile works (see DEVELOPERS.md)")
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="tflm-bench-") as tmp:
            theirs_dir, gen = Path(tmp) / "tflm_tree", Path(tmp) / "gen"
            options = " ".join(TFLM_TARGETS[args.target])
            theirs = _timed([sys.executable, str(script), "-e", "hello_world", "--makefile_options", options,
                             str(theirs_dir)], make_root)
            goal = f"generate_hello_world_{args.kind}_project"
            ours_argv = [SCONS, "-C", str(REPO), "-Q", f"GEN_DIR={gen}", f"TARGET={args.target}", goal]
            ours = _timed(ours_argv, REPO)
            again = _timed(ours_argv, REPO)
            project = next(gen.glob(f"*/prj/hello_world/{args.kind}"))
            print(f"run {run + 1}: create_tflm_tree.py {theirs:6.2f} s ({_count(theirs_dir)} files) | "
                  f"tflm-build {ours:5.2f} s ({_count(project)} files, {args.kind}) | ratio {ours / theirs:.3f}x "
                  f"(goal <= 0.1x) | no-change regeneration {again:.2f} s (goal < 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
