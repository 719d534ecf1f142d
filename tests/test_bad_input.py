"""Bad input: one clear message naming file, line and key, the choices, a fix; exit 2; no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Fixture, copy_repo


def _assert_usage_error(res, *needles: str) -> None:
    assert res.returncode == 2, res.output
    assert "Traceback" not in res.output
    assert "tflm-build: error:" in res.stderr
    for needle in needles:
        assert needle in res.stderr, res.stderr


@pytest.mark.parametrize("args, needles", [
    (["TARGET=linx", "microlite"], ["unknown TARGET 'linx'", "valid choices", "did you mean 'linux'"]),
    (["BUILD_TYPE=relase", "microlite"], ["unknown BUILD_TYPE 'relase'", "release_with_logs", "did you mean 'release'"]),
    (["TARGET_ARCH=sparc", "microlite"], ["TARGET_ARCH", "x86_64"]),
    (["hello_wrld_bin"], ["unknown goal 'hello_wrld_bin'", "did you mean 'hello_world_bin'"]),
    (["TRAGET=linux"], ["unknown variable TRAGET=linux", "did you mean TARGET="]),
    (["CC_VER11=maybe"], ["CC_VER11=maybe is not a yes/no value"]),
    (["PCH=sometimes"], ["PCH=sometimes is not auto or a yes/no value", "PCH=auto (the default)"]),
    (["OPTIMIZED_KERNEL_DIR=cmsis", "microlite"], ["unknown OPTIMIZED_KERNEL_DIR 'cmsis'", "cmsis_nn"]),
])
def test_bad_variables_and_goals(fx: Fixture, args: list[str], needles: list[str]) -> None:
    _assert_usage_error(fx.scons(*args), *needles)


def test_tflm_root_missing_or_wrong(fx: Fixture, tmp_path: Path) -> None:
    _assert_usage_error(fx.scons("microlite", env={"TFLM_ROOT": str(tmp_path / "nope")}), "does not exist", "TFLM_ROOT")
    _assert_usage_error(fx.scons("microlite", env={"TFLM_ROOT": str(tmp_path)}), "is not a TFLM tree")


def test_no_compiler(fx: Fixture, tmp_path: Path) -> None:
    res = fx.scons("microlite", "TOOLCHAIN_ROOT=" + str(tmp_path))
    _assert_usage_error(res, "not found under TOOLCHAIN_ROOT", "fix:")
    assert not (fx.gen).exists() or not any(fx.gen.rglob("*.o"))


@pytest.mark.parametrize("text, needles", [
    ("description: x\nextends: _common\nflagz: {}\n", ["broken.yaml:3", "unknown key", "did you mean 'flags'"]),
    ("description: x\nextends: _common\nhost: yes please\n", ["broken.yaml:3", "expected true or false", "'host'"]),
    ("description: x\nextends: broken\n", ["'extends' cycle: broken -> broken"]),
    ("description: x\nextends: _common\nrunner: {kind: emulator}\n", ["broken.yaml:3", "invalid value 'emulator'", "command"]),
    ("description: [x\n", ["broken.yaml:", "invalid YAML"]),
])
def test_malformed_target_yaml(fx: Fixture, tmp_path: Path, text: str, needles: list[str]) -> None:
    repo = copy_repo(tmp_path / "repo")
    (repo / "targets" / "broken.yaml").write_text(text)
    _assert_usage_error(fx.scons("TARGET=broken", "microlite", repo=repo), *needles)


def test_extends_cycle_between_two(fx: Fixture, tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    (repo / "targets" / "a.yaml").write_text("description: a\nextends: b\n")
    (repo / "targets" / "b.yaml").write_text("description: b\nextends: a\n")
    _assert_usage_error(fx.scons("TARGET=a", "microlite", repo=repo), "'extends' cycle: a -> b -> a", "b.yaml:2")


def test_malformed_example_yaml(fx: Fixture, tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    app.write_text("description: x\nprograms:\n  p:\n    sourcez: [a.cc]\n")
    _assert_usage_error(fx.scons(f"APP={app}", "p"), "app.yaml:4", "unknown key", "did you mean 'sources'")
