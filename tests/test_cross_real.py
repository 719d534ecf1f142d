"""Cross builds of the real TFLM tree (pytest -m tflm; minutes each, skipped without TFLM_ROOT).

The same commands the issue's must-show list names: hello_world built and run
under QEMU, and the SparkFun Edge image with its vector table at the address
the SparkFun bootloader jumps to.  Outputs go to a temporary GEN_DIR.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import requires_tflm, run_scons

pytestmark = [
    pytest.mark.tflm, pytest.mark.slow, requires_tflm,
    pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None, reason="arm-none-eabi-g++ not found"),
]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SCONSFLAGS"}


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not found")
def test_hello_world_runs_under_qemu(tmp_path: Path) -> None:
    res = run_scons([f"GEN_DIR={tmp_path}", "TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", "run_hello_world"],
                    _env(), timeout=3600)
    assert res.returncode == 0, res.output
    assert "~~~ALL TESTS PASSED~~~" in res.stdout and "PASS  run_hello_world" in res.stdout


@pytest.mark.skipif(not (os.environ.get("AMBIQ_SUITE_SDK_DIR") and os.environ.get("SPARKFUN_BSPS_DIR")),
                    reason="needs AMBIQ_SUITE_SDK_DIR and SPARKFUN_BSPS_DIR (or network access for the fetcher)")
def test_sparkfun_edge_image_starts_with_its_vector_table_at_0xc000(tmp_path: Path) -> None:
    res = run_scons([f"GEN_DIR={tmp_path}", "TARGET=sparkfun_edge", "hello_world_bin"], _env(), timeout=3600)
    assert res.returncode == 0, res.output
    bin_dir = tmp_path / "sparkfun_edge_cortex-m4_default_gcc" / "bin"
    elf, image = bin_dir / "hello_world", (bin_dir / "hello_world.bin").read_bytes()
    assert (bin_dir / "hello_world.map").is_file()
    assert "SIZE  hello_world: text " in res.stdout
    symbols = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    address = {line.split()[2]: int(line.split()[0], 16) for line in symbols.splitlines() if len(line.split()) == 3}
    assert address["tflm_edge_vectors"] == 0xC000
    # The image is what the bootloader copies to 0xC000: initial SP in SRAM, then the reset vector (Thumb).
    stack, reset = struct.unpack_from("<II", image, 0)
    assert 0x10000000 < stack <= 0x10060000
    assert reset == address["Reset_Handler"] | 1
    assert len(image) < 960 * 1024
