"""On the real TFLM tree at the pin (pytest -m tflm; skipped unless TFLM_ROOT is set).

Parity with the Makefile's list_* goals needs a TFLM checkout whose Makefile
can run offline: set TFLM_MAKE_ROOT to one with tools/make/downloads/ filled
(flatbuffers, kissfft, gemmlowp, ruy, an empty pigweed/, and for the cmsis_nn
case cmsis/ with Cortex_DFP/ inside and cmsis_nn/), see DEVELOPERS.md.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, real_tflm, run_scons

from tflm_build.build import variables as cfg
from tflm_build.fetch.pins import needed
from tflm_build.build.dependencies import make_fetcher
from tflm_build.model.targets import TargetRegistry
from tflm_build.cli.pin import last_line, normalise

pytestmark = [pytest.mark.tflm,
              pytest.mark.skipif(real_tflm() is None, reason="skipped: set TFLM_ROOT to a TFLM tree at the pin")]
MAKE_ROOT = os.environ.get("TFLM_MAKE_ROOT")
CONFIGS = {
    "linux": [],
    "cortex_m_generic_cmsis_nn": ["TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m4", "OPTIMIZED_KERNEL_DIR=cmsis_nn"],
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SCONSFLAGS"}


def _dep_roots(variables: list[str]) -> dict[str, Path]:
    values = dict(v.split("=", 1) for v in variables)
    config = cfg.parse(values, os.environ, lambda: set())
    target = TargetRegistry(REPO / "targets").load(config["TARGET"], config["TARGET_ARCH"] or None)
    deps, fetcher = make_fetcher(REPO, config)
    return {n: fetcher.ensure(n) for n in needed(deps, target.lineage, config["OPTIMIZED_KERNEL_DIR"] or None)}


@pytest.mark.skipif(not MAKE_ROOT, reason="skipped: set TFLM_MAKE_ROOT for parity with the Makefile")
@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("goal", ["list_library_sources", "list_library_headers", "list_third_party_sources",
                                  "list_third_party_headers"])
def test_list_parity_with_makefile(config: str, goal: str, tmp_path: Path) -> None:
    variables = CONFIGS[config]
    extra = ["TARGET_TOOLCHAIN_ROOT=/usr/bin/"] if "cortex_m" in config else []
    make = subprocess.run(["make", "-s", "-f", "tensorflow/lite/micro/tools/make/Makefile", *variables, *extra, goal],
                          cwd=MAKE_ROOT, capture_output=True, text=True, timeout=300)
    assert make.returncode == 0, make.stderr
    ours = run_scons([f"GEN_DIR={tmp_path}", *variables, goal], _env())
    assert ours.returncode == 0, ours.output
    roots = _dep_roots(variables)
    assert normalise(last_line(ours.stdout), roots, REPO) == normalise(last_line(make.stdout), roots, REPO)


def test_hello_world_runs_and_passes() -> None:
    res = run_scons(["run_hello_world"], _env(), timeout=1800)
    assert res.returncode == 0, res.output[-3000:]
    assert "~~~ALL TESTS PASSED~~~" in res.stdout
    assert "PASS  run_hello_world" in res.stdout


@pytest.mark.slow
def test_unit_tests_all_pass_with_makes_count() -> None:
    res = run_scons(["test"], _env(), timeout=3600)
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", res.stdout, re.M)
    assert summary, res.output[-3000:]
    passed, failed = map(int, summary[-1])
    assert (passed, failed) == (127, 0), res.output[-5000:]
    assert res.returncode == 0
