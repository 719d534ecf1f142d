"""Cross targets on the fixture tree: cortex-m programs built with arm-none-eabi-gcc, run under QEMU.

Each case builds the fixture tree's dozen files for one configuration (a few
seconds) and runs the result with the target's own runner, qemu-system-arm on
an mps2 machine with semihosting.  Skipped when the Arm toolchain or QEMU is
missing (.ci/run installs both).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURE_TREE, Fixture, copy_repo

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None,
                       reason="arm-none-eabi-g++ not found (apt-get install gcc-arm-none-eabi "
                              "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib)"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None,
                       reason="qemu-system-arm not found (apt-get install qemu-system-arm)"),
]


@pytest.mark.parametrize("arch", ["cortex-m0", "cortex-m4", "cortex-m7+fp", "cortex-m33"])
def test_run_hello_world_under_qemu(fx: Fixture, arch: str) -> None:
    res = fx.scons("TARGET=cortex_m_qemu", f"TARGET_ARCH={arch}", "run_hello_world")
    assert res.returncode == 0, res.output
    # The program's own output, carried out of the emulated board by semihosting.
    assert "float model: 23 bytes -> 10" in res.stdout
    assert "~~~ALL TESTS PASSED~~~" in res.stdout
    assert "PASS  run_hello_world" in res.stdout
    gen = fx.gendir(f"cortex_m_qemu_{arch}_default_gcc")
    elf = (gen / "bin" / "hello_world").read_bytes()
    assert elf[:4] == b"\x7fELF" and elf[18] == 40  # e_machine EM_ARM: really cross-compiled
    assert (gen / "bin" / "hello_world.map").is_file()


def test_test_goal_runs_every_test_under_qemu(fx: Fixture) -> None:
    res = fx.scons("TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", "test")
    assert res.returncode == 0, res.output
    assert res.stdout.count("PASS  test_") == 3
    assert res.stdout.strip().endswith("3 passed, 0 failed")


def test_failing_test_under_qemu_prints_log_and_rerun_command(fx: Fixture, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    test = tree / "tensorflow/lite/micro/kernels/add_test.cc"
    test.write_text(test.read_text().replace("AddKernel(2, 3) == 5", "AddKernel(2, 3) == 6"))
    res = fx.scons("TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", "test", env={"TFLM_ROOT": str(tree)})
    assert res.returncode == 1, res.output
    # main() returned 1: QEMU's exit status says so, the log is shown, and how to rerun it alone.
    assert "FAIL  test_kernel_add_test: exit status 1" in res.stdout
    assert "FAIL: AddKernel(2, 3) == 6" in res.stdout
    assert "qemu-system-arm -M mps2-an386" in res.stdout
    assert "rerun alone: scons TARGET=cortex_m_qemu TARGET_ARCH=cortex-m4" in res.stdout
    assert "test_kernel_add_test" in res.stdout.split("rerun alone:")[1]
    assert res.stdout.strip().endswith("2 passed, 1 failed")


def test_unknown_arch_lists_the_valid_ones(fx: Fixture) -> None:
    res = fx.scons("TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m99", "run_hello_world")
    assert res.returncode == 2, res.output
    assert "unknown TARGET_ARCH for TARGET=cortex_m_qemu 'cortex-m99'" in res.stderr
    valid = res.stderr.split("valid choices:")[1].splitlines()[0]
    assert "cortex-m4+fp" in valid and "cortex-m55" in valid
    assert "cortex-m85" not in valid  # QEMU has no Cortex-M85
    assert not fx.gen.exists() or not any(fx.gen.glob("cortex_m_qemu_cortex-m99*"))


def test_missing_toolchain_is_one_message(fx: Fixture, tmp_path: Path) -> None:
    res = fx.scons("TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", f"TOOLCHAIN_ROOT={tmp_path / 'none'}",
                   "run_hello_world")
    assert res.returncode == 2, res.output
    assert "arm-none-eabi-" in res.stderr and "not found under TOOLCHAIN_ROOT=" in res.stderr
    assert "apt-get install gcc-arm-none-eabi" in res.stderr
    assert "Traceback" not in res.output


def test_missing_qemu_refuses_run_goals_before_any_work(fx: Fixture, tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    yaml = repo / "targets" / "cortex_m_qemu.yaml"
    yaml.write_text(yaml.read_text().replace("qemu-system-arm", "qemu-system-nosuch"))
    res = fx.scons("TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", "run_hello_world", repo=repo)
    assert res.returncode == 2, res.output
    assert "'qemu-system-nosuch', which runs the programs of TARGET=cortex_m_qemu, is not on PATH" in res.stderr
    assert "apt-get install" in res.stderr
    assert "CXX" not in res.stdout  # refused before compiling anything
    # Building without running needs no emulator.
    built = fx.scons("TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", "hello_world_bin", repo=repo)
    assert built.returncode == 0, built.output
    # Debugging needs the emulator too; the host target is suggested from the target files.
    debug = fx.scons("TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", "debug_hello_world", repo=repo)
    assert debug.returncode == 2 and "or debug on the host with TARGET=linux" in debug.stderr, debug.output


def test_library_only_target_refuses_binaries_before_any_work(fx: Fixture) -> None:
    res = fx.scons("TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m4", "hello_world_bin")
    assert res.returncode == 2, res.output
    assert "TARGET=cortex_m_generic cannot build 'hello_world_bin': it serves only library" in res.stderr
    # Where it can be built instead: the targets whose files list the goal kind.
    assert "use TARGET=cortex_m_qemu or TARGET=linux or TARGET=sparkfun_edge for binaries" in res.stderr, res.stderr
    assert "CXX" not in res.stdout
    lib = fx.scons("TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m4", "microlite")
    assert lib.returncode == 0, lib.output
    assert (fx.gendir("cortex_m_generic_cortex-m4_default_gcc") / "lib" / "libtensorflow-microlite.a").is_file()
