#!/usr/bin/env python3
"""Benchmark: TFLM's Makefile against tflm-build, measured side by side in one run.

Not a test (pytest never collects bench/).  Needs a pristine TFLM tree for
tflm-build (TFLM_ROOT, or fetched) and a TFLM checkout whose Makefile runs
offline (--make-root: tools/make/downloads/ filled, see DEVELOPERS.md).

Scenarios, each timed for make and scons:
  clean hello_world_bin (scons model-aware, and MODEL_AWARE=0), no-op, edit one
  kernel .cc, edit kernels/kernel_util.h (objects recompiled counted and compared
  with the objects whose compiler-reported dependencies, ``gcc -M``, include the
  header: every dependent must be recompiled and nothing else), clean microlite,
  the physical limit of a clean microlite (the CPU seconds of the clean build,
  compilers and scons, less those of a no-op scons run, divided by the cores), and
  a warm cache: microlite in a second checkout of tflm-build in another folder
  with the cache filled from the first (make has no object cache: its figure is
  its clean build).
``--only noop`` times just the no-op hello_world_bin (after an untimed build of each);
``--repo DIR`` benchmarks another checkout of tflm-build (e.g. an older version, to compare
two versions in one run).  Prints a Markdown table with the ratios scons/make.  Python writes no bytecode
when PYTHONDONTWRITEBYTECODE is set (some CI images and containers set it): the benchmark unsets
it for scons, as a user's shell has it, so start-up is not a recompile of our modules.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from warm_cache import checkout

MAKEFILE = "tensorflow/lite/micro/tools/make/Makefile"
KERNEL_CC = "tensorflow/lite/micro/kernels/fully_connected.cc"
KERNEL_H = "tensorflow/lite/micro/kernels/kernel_util.h"


CPU: dict[str, float] = {}  # label -> CPU seconds of the last run (the tool and its children)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one command; its CPU seconds (with children) go to CPU[cmd[0]].

    A failing command raises SystemExit, so callers' finally blocks still restore edited files.
    """
    cpu = _children_cpu()
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.monotonic() - start
    CPU[cmd[0]] = _children_cpu() - cpu
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed


def objects_newer(folder: Path, since: float) -> set[str]:
    return {str(p) for p in folder.rglob("*.o") if p.stat().st_mtime >= since}


def dependents(database: Path, header: str, jobs: int) -> set[str]:
    """Objects of compile_commands.json whose source includes ``header``, as the compiler says (-M)."""
    def includes(entry: dict[str, str]) -> str | None:
        argv = shlex.split(entry["command"])
        at = argv.index("-o")
        argv[at:at + 2] = ["-M", "-o", "/dev/stdout"]
        out = subprocess.run(argv, cwd=entry["directory"], capture_output=True, text=True).stdout
        return entry["output"] if header in out else None

    with ThreadPoolExecutor(jobs) as pool:
        return {o for o in pool.map(includes, json.loads(database.read_text())) if o}


def edit(path: Path) -> tuple[float, str]:
    """Change the file's content (a trailing comment); a bare touch rebuilds nothing with
    SCons's content-timestamp decider, which re-hashes a file whose mtime changed."""
    original = path.read_text()
    time.sleep(1.1)
    since = time.time()
    path.write_text(original + "\n// bench edit\n")
    return since, original


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-root", default=os.environ.get("TFLM_MAKE_ROOT"), help="TFLM checkout for make")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "tflm-bench"),
                    help="folder for two checkouts of tflm-build and the object cache (wiped)")
    ap.add_argument("--edits-only", action="store_true", help="only the edit scenarios, on existing builds")
    ap.add_argument("--only", choices=["noop"], help="noop: only the no-op hello_world_bin, after a build of each")
    ap.add_argument("--repo", type=Path, help="the tflm-build checkout to benchmark (default: this one)")
    args = ap.parse_args()
    if not args.make_root or not os.environ.get("TFLM_ROOT"):
        sys.exit("set TFLM_ROOT (pristine tree for scons) and --make-root / TFLM_MAKE_ROOT (tree for make)")
    make_root, tflm = Path(args.make_root), Path(os.environ["TFLM_ROOT"])
    env = {k: v for k, v in os.environ.items() if k not in ("SCONSFLAGS", "PYTHONDONTWRITEBYTECODE")}
    # scons builds in a checkout of its own with gen/ inside it, as a user's is: object
    # signatures then hold no absolute build path, so the warm-cache row's second checkout
    # (another folder) finds the first one's objects.
    work = Path(args.work)
    first = work / "one" / "tflm-build"
    if not args.edits_only or not first.is_dir():
        shutil.rmtree(work, ignore_errors=True)
        checkout(first, *([args.repo.resolve()] if args.repo else []))
    gen = first / "gen"
    make = ["make", "-f", MAKEFILE, f"-j{args.jobs}"]
    scons = ["scons", "-C", str(first), "-Q", f"-j{args.jobs}"]
    make_gen = make_root / "gen"
    print("| scenario | make s | scons s | scons/make | notes |\n|---|---|---|---|---|", flush=True)

    def row(label: str, tm: float, ts: float, note: str = "") -> None:
        """Print each row as soon as it is measured: a long run still leaves its figures."""
        ratio = f"{ts / tm:.3f}" if tm == tm else "-"
        print(f"| {label} | {tm:.2f} | {ts:.2f} | {ratio} | {note} |".replace("| nan |", "| - |"), flush=True)

    def clean() -> None:
        shutil.rmtree(make_gen, ignore_errors=True)
        shutil.rmtree(gen, ignore_errors=True)

    if args.only == "noop":
        run([*make, "hello_world_bin"], make_root, env)
        run([*scons, "hello_world_bin"], first, env)
        row("no-op hello_world_bin", run([*make, "hello_world_bin"], make_root, env),
            run([*scons, "hello_world_bin"], first, env))
        return 0
    if args.edits_only:
        run([*make, "hello_world_bin"], make_root, env)
        run([*scons, "MODEL_AWARE=0", "hello_world_bin"], first, env)
    else:
        clean()
        _clean_hello_world(make, scons, make_root, env, row)
    _edits(make, scons, make_root, tflm, gen, make_gen, env, row, args.jobs)
    if args.edits_only:
        return 0
    t_make = _microlite(make, scons, make_root, env, row, args.jobs, clean)
    _warm_cache(scons, work, env, row, t_make)
    return 0


def _clean_hello_world(make: list[str], scons: list[str], make_root: Path, env: dict[str, str], row) -> None:
    t_make = run([*make, "hello_world_bin"], make_root, env)
    t_scons = run([*scons, "hello_world_bin"], Path(scons[2]), env)
    row("clean hello_world_bin (model-aware)", t_make, t_scons)
    row("no-op hello_world_bin", run([*make, "hello_world_bin"], make_root, env),
        run([*scons, "hello_world_bin"], Path(scons[2]), env))
    t_full = run([*scons, "MODEL_AWARE=0", "hello_world_bin"], Path(scons[2]), env)
    row("hello_world_bin, full library after the above (scons only)", float("nan"), t_full)


def _edits(make: list[str], scons: list[str], make_root: Path, tflm: Path, gen: Path, make_gen: Path,
           env: dict[str, str], row, jobs: int) -> None:
    """Edit one kernel .cc, then kernels/kernel_util.h; count the objects each tool recompiles."""
    for label, rel in (("edit kernels/fully_connected.cc", KERNEL_CC), ("edit kernels/kernel_util.h", KERNEL_H)):
        since_make, original_make = edit(make_root / rel)
        since_scons, original = edit(tflm / rel)
        try:
            tm = run([*make, "hello_world_bin"], make_root, env)
            made = objects_newer(make_gen, since_make)
            ts = run([*scons, "MODEL_AWARE=0", "hello_world_bin"], Path(scons[2]), {**env, "TFLM_ROOT_MODIFIED": "1"})
            rebuilt = objects_newer(gen, since_scons)
        finally:
            (make_root / rel).write_text(original_make)
            (tflm / rel).write_text(original)
        truth = dependents(next(gen.glob("*/compile_commands.json")), rel, jobs)
        verdict = "exactly the dependents" if rebuilt == truth else \
            f"missed {len(truth - rebuilt)}, extra {len(rebuilt - truth)}"
        row(label, tm, ts, f"objects recompiled: make {len(made)}, scons {len(rebuilt)}; objects whose "
                           f"source includes it (gcc -M): {len(truth)}; scons: {verdict}")
        run([*make, "hello_world_bin"], make_root, env)
        run([*scons, "MODEL_AWARE=0", "hello_world_bin"], Path(scons[2]), env)


def _microlite(make: list[str], scons: list[str], make_root: Path, env: dict[str, str], row, jobs: int,
               clean) -> float:
    """Clean microlite for both, and the physical limit; returns make's time."""
    clean()
    t_make = run([*make, "microlite"], make_root, env)
    t_scons = run([*scons, "microlite"], Path(scons[2]), env)
    row("clean microlite", t_make, t_scons)
    build_cpu = CPU["scons"]
    run([*scons, "microlite"], Path(scons[2]), env)  # a no-op: what scons itself costs to start and check
    limit = (build_cpu - CPU["scons"]) / jobs
    row("physical limit of clean microlite (compile CPU s / cores)", float("nan"), limit,
        f"scons overhead over it: {100 * (t_scons / limit - 1):.1f}%")
    return t_make


def _warm_cache(scons: list[str], work: Path, env: dict[str, str], row, t_make: float) -> None:
    """Fill a cache from the clean microlite (--cache-populate), then build a second checkout from it."""
    cache = work / "objects-cache"
    run([*scons, f"CACHE_DIR={cache}", "--cache-populate", "microlite"], work, env)
    second = checkout(work / "elsewhere" / "second-checkout")
    t_warm = run([scons[0], "-C", str(second), *scons[3:], f"CACHE_DIR={cache}", "microlite"], work, env)
    row("warm cache: clean microlite in a second checkout", t_make, t_warm,
        "make has no object cache (its clean build); scons: objects from CACHE_DIR")


if __name__ == "__main__":
    sys.exit(main())
