#!/usr/bin/env python3
"""Benchmark: precompiled headers, against TFLM's Makefile and against PCH=0, measured in one run.

Not a test (pytest never collects bench/).  Needs TFLM_ROOT (a pristine TFLM
tree for tflm-build; the edit row changes kernels/kernel_util.h in it and puts
it back) with FLATBUFFERS_DIR, KISSFFT_DIR, GEMMLOWP_DIR, RUY_DIR, CMSIS_DIR,
CMSIS_NN_DIR, CORTEX_DFP_DIR as in DEVELOPERS.md, and --make-root: a TFLM
checkout whose Makefile runs offline (tools/make/downloads/ filled; its gen/
is wiped).  ``--lock FILE`` runs every build under ``flock FILE`` so builds of
a shared machine do not overlap.

Rows (goal in brackets), each printed as soon as it is measured, with the
exact commands and the load average:
  clean microlite, host [<= 0.6x make]; PCH=0 for reference;
  every object's .text/.data/.rodata and relocations, PCH against PCH=0;
  no-op microlite, 11 alternating runs, best and median [not slower than PCH=0, < 1 s];
  edit kernels/kernel_util.h, then microlite [<= 0.6x the same with PCH=0];
  clean hello_world_bin, model-aware [<= 0.1x make] (PCH=auto: the core's
    compiled header only; the trimmed core);
  clean microlite, cortex_m_generic cortex-m4+fp with cmsis_nn [<= 0.7x make].
Python writes no bytecode when PYTHONDONTWRITEBYTECODE is set: it is unset for
scons, as a user's shell has it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Callable

from make_vs_scons import CPU, KERNEL_H, MAKEFILE, edit, run
from warm_cache import checkout

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tflm_build.build.objsections import differing  # noqa: E402

CORTEX_M = ["TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m4+fp", "OPTIMIZED_KERNEL_DIR=cmsis_nn"]
HOST_GEN = "linux_x86_64_default_gcc"


class Bench:
    """The two tools' command lines, their output folders, and the table."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.jobs = args.jobs
        self.lock = ["flock", args.lock] if args.lock else []
        self.make_root = Path(args.make_root)
        self.tflm = Path(os.environ["TFLM_ROOT"])
        self.repo = checkout(Path(args.work) / "tflm-build") if not (Path(args.work) / "tflm-build").is_dir() \
            else Path(args.work) / "tflm-build"
        self.env = {k: v for k, v in os.environ.items() if k not in ("SCONSFLAGS", "PYTHONDONTWRITEBYTECODE")}
        self.make = ["make", "-f", MAKEFILE, f"-j{self.jobs}"]
        self.scons = ["scons", "-C", str(self.repo), "-Q", f"-j{self.jobs}"]
        print("| scenario | baseline | baseline s | scons s | ratio | goal | met | load avg | commands |\n"
              "|---|---|---|---|---|---|---|---|---|", flush=True)

    def time(self, cmd: list[str], where: Path | None = None, env: dict[str, str] | None = None) -> float:
        return run([*self.lock, *cmd], where or self.repo, env or self.env)

    def make_cmd(self, *args: str) -> list[str]:
        return [*self.make, *args]

    def scons_cmd(self, *args: str) -> list[str]:
        return [*self.scons, *args]

    def clean(self, *folders: str) -> None:
        for folder in folders:
            shutil.rmtree(self.repo / folder, ignore_errors=True)

    def row(self, label: str, baseline: str, tb: float, ts: float, goal: float, commands: list[list[str]],
            absolute: float | None = None) -> None:
        ratio = ts / tb
        met = ratio <= goal and (absolute is None or ts < absolute)
        shown = "; ".join(" ".join(c) for c in commands)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"| {label} | {baseline} | {tb:.2f} | {ts:.2f} | {ratio:.3f} | <= {goal}"
              f"{f' and < {absolute} s' if absolute else ''} | {'yes' if met else 'NO'} | {load} | `{shown}` |",
              flush=True)


def host_microlite(b: Bench) -> None:
    shutil.rmtree(b.make_root / "gen", ignore_errors=True)
    b.clean("gen", "gen-nopch")
    make, pch, nopch = (b.make_cmd("microlite"), b.scons_cmd("microlite"),
                        b.scons_cmd("PCH=0", "GEN_DIR=gen-nopch", "microlite"))
    t_make = b.time(make, b.make_root)
    t_pch = b.time(pch)
    cpu = CPU["flock" if b.lock else "scons"]
    t_nopch = b.time(nopch)
    b.row("clean microlite, host", "make", t_make, t_pch, 0.6, [make, pch])
    b.row("clean microlite, host, PCH=0 (reference)", "make", t_make, t_nopch, 1.0, [make, nopch])
    print(f"|  | compile CPU of the PCH build: {cpu:.1f} s |  |  |  |  |  |  |  |", flush=True)
    objdump = shutil.which("objdump") or "objdump"
    objs, objs0 = b.repo / "gen" / HOST_GEN / "obj", b.repo / "gen-nopch" / HOST_GEN / "obj"
    diff = differing(objdump, objs, objs0, b.jobs)
    count = len(list(objs.rglob("*.o")))
    print(f"| objects, PCH against PCH=0 | {count} objects | .text/.data/.rodata and relocations | "
          f"{'identical' if not diff else f'{len(diff)} differ: ' + ', '.join(diff[:5])} |  |  | "
          f"{'yes' if not diff else 'NO'} |  | `objdump -s -r` of each |", flush=True)


def noop(b: Bench) -> None:
    """Both builds brought up to date first, then timed in turn, 11 times each (a no-op is ~0.4 s, with
    run-to-run noise of a few hundredths): the best and the median."""
    pch, nopch = b.scons_cmd("microlite"), b.scons_cmd("PCH=0", "GEN_DIR=gen-nopch", "microlite")
    b.time(pch)
    b.time(nopch)
    times: dict[str, list[float]] = {"pch": [], "nopch": []}
    for _ in range(11):
        times["pch"].append(b.time(pch))
        times["nopch"].append(b.time(nopch))
    for label, pick in (("best", min), ("median", statistics.median)):
        b.row(f"no-op microlite ({label} of 11, alternating)", "scons PCH=0", pick(times["nopch"]),
              pick(times["pch"]), 1.0, [pch, nopch], absolute=1.0)


def header_edit(b: Bench) -> None:
    pch, nopch = b.scons_cmd("microlite"), b.scons_cmd("PCH=0", "GEN_DIR=gen-nopch", "microlite")
    env = {**b.env, "TFLM_ROOT_MODIFIED": "1"}
    _, original = edit(b.tflm / KERNEL_H)
    try:
        t_nopch = b.time(nopch, env=env)
        t_pch = b.time(pch, env=env)
    finally:
        (b.tflm / KERNEL_H).write_text(original)
    b.row("edit kernels/kernel_util.h, then microlite", "scons PCH=0", t_nopch, t_pch, 0.6, [pch, nopch])


def hello_world(b: Bench) -> None:
    shutil.rmtree(b.make_root / "gen", ignore_errors=True)
    b.clean("gen")
    make, scons = b.make_cmd("hello_world_bin"), b.scons_cmd("hello_world_bin")
    t_make = b.time(make, b.make_root)
    t_scons = b.time(scons)
    b.row("clean hello_world_bin (model-aware)", "make", t_make, t_scons, 0.1, [make, scons])


def cortex_m(b: Bench) -> None:
    shutil.rmtree(b.make_root / "gen", ignore_errors=True)
    b.clean("gen")
    make = b.make_cmd(*CORTEX_M, "TARGET_TOOLCHAIN_ROOT=/usr/bin/", "microlite")
    scons = b.scons_cmd(*CORTEX_M, "microlite")
    t_make = b.time(make, b.make_root)
    t_scons = b.time(scons)
    b.row("clean microlite, cortex-m4+fp, cmsis_nn", "make", t_make, t_scons, 0.7, [make, scons])


SCENARIOS: dict[str, Callable[[Bench], None]] = {"host": host_microlite, "noop": noop, "edit": header_edit,
                                             "hello_world": hello_world, "cortex_m": cortex_m}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-root", default=os.environ.get("TFLM_MAKE_ROOT"), help="TFLM checkout for make")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work", default="/tmp/tflm-pch-bench", help="folder for a checkout of tflm-build")
    ap.add_argument("--lock", help="run every build under `flock LOCK`")
    ap.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="some rows (host before noop and edit)")
    args = ap.parse_args()
    if not args.make_root or not os.environ.get("TFLM_ROOT"):
        sys.exit("set TFLM_ROOT (pristine tree for scons) and --make-root / TFLM_MAKE_ROOT (tree for make)")
    bench = Bench(args)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for name, scenario in SCENARIOS.items():
        if args.only is None or name in args.only:
            scenario(bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
