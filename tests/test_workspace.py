"""tflm-build as people install it: a wheel in a fresh venv, a workspace of one's own made by
``init``, out-of-tree targets, and ``clean``; and the workspace file's bad input."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import REPO, fixture_env
from tflm_build.cli import main as cli

QEMU_BOARD = """\
description: A board of ours, run on QEMU's mps2-an386 (Cortex-M4)
extends: cortex_m_qemu
arch: {default: cortex-m4, allowed: [cortex-m4]}
"""


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the wheel of this checkout installed (not editable); its bin/ folder."""
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
                            str(REPO)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    wheel = next((work / "dist").glob("tflm_build-*.whl"))
    # The dependencies (SCons, PyYAML, jinja2, ...) come from this interpreter's site-packages.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(work / "venv")
    python = work / "venv" / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                             capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                  if k != "PYTHONPATH"})
    assert install.returncode == 0, install.stderr
    return python.parent


def _run(bin_dir: Path, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in env.items() if k != "PYTHONPATH"}  # only the wheel's tflm_build
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ['PATH']}"
    return subprocess.run([str(bin_dir / "tflm-build"), *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=600)


def test_wheel_init_build_run_test_and_clean(installed: Path, tmp_path: Path) -> None:
    env = fixture_env(tmp_path)
    site = next((installed.parent / "lib").glob("python*/site-packages/tflm_build"))
    where = subprocess.run([str(installed / "python"), "-c", "import tflm_build; print(tflm_build.__file__)"],
                           env={k: v for k, v in env.items() if k != "PYTHONPATH"}, cwd=tmp_path,
                           capture_output=True, text=True)
    assert where.stdout.strip() == str(site / "__init__.py")  # the wheel's copy, not a checkout
    package_before = _tree(site)
    home = tmp_path / "empty"
    home.mkdir()
    version = _run(installed, ["--version"], home, env)
    assert version.returncode == 0 and version.stdout.startswith("tflm-build ")

    made = _run(installed, ["init", "--example", "hello_world", "ws"], home, env)
    assert made.returncode == 0, made.stderr
    ws = home / "ws"
    created = _tree(ws)
    assert {"tflm-build.yaml", "hello_world/hello_world.yaml", "targets",
            "hello_world/tensorflow/lite/micro/examples/hello_world/hello_world_test.cc",
            "hello_world/tensorflow/lite/micro/examples/hello_world/models/hello_world_int8.tflite"} <= created

    app = ws / "hello_world"  # commands work anywhere below the workspace
    ran = _run(installed, ["run", "hello_world"], app, env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "~~~ALL TESTS PASSED~~~" in ran.stdout and "PASS  run_hello_world" in ran.stdout
    tested = _run(installed, ["test", "hello_world"], ws, env)
    assert tested.returncode == 0 and tested.stdout.strip().endswith("1 passed, 0 failed"), tested.stdout
    project = _run(installed, ["generate", "hello_world", "--kind", "make"], ws, env)
    assert project.returncode == 0, project.stderr
    assert (ws / "gen/linux_x86_64_default_gcc/prj/hello_world/make/Makefile").is_file()

    (ws / "targets" / "our_board.yaml").write_text(QEMU_BOARD)  # out of tree, on a shipped target
    if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-g++"):
        board = _run(installed, ["run", "hello_world", "TARGET=our_board"], ws, env)
        assert board.returncode == 0, board.stdout + board.stderr
        assert "~~~ALL TESTS PASSED~~~" in board.stdout and (ws / "gen/our_board_cortex-m4_default_gcc").is_dir()
        listed = _run(installed, ["targets"], ws, env)
        assert any(line.startswith("our_board ") for line in listed.stdout.splitlines())

    assert _tree(site) == package_before  # nothing written into the installed package
    assert (ws / "gen").is_dir() and (ws / "third_party" / "downloads").is_dir()
    cleaned = _run(installed, ["clean"], ws, env)  # the configuration's folder
    assert cleaned.returncode == 0, cleaned.stderr
    assert not (ws / "gen/linux_x86_64_default_gcc").exists()
    everything = _run(installed, ["clean", "--all", "--downloads"], ws, env)
    assert everything.returncode == 0, everything.stderr
    assert _tree(ws) == created | {"targets/our_board.yaml"}  # what init wrote, and the user's board


def _workspace(tmp_path: Path, text: str) -> Path:
    (tmp_path / "targets").mkdir(exist_ok=True)
    (tmp_path / "tflm-build.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("text, line, key, fix", [
    ("targets: [targets]\nvariabels: {}\n", 2, "variabels", "did you mean 'variables'?"),
    ("targets: [targets]\nvariables:\n  TARGET: 3\n", 3, "variables.TARGET", "give 'TARGET' a string"),
    ("variables:\n  TARGT: linux\n", 2, "variables.TARGT", "did you mean TARGET?"),
    ("targets: [boards]\n", 1, "targets", "create it"),
    ("dependencies:\n  flatbufers: ../fb\n", 2, "dependencies.flatbufers", "did you mean flatbuffers?"),
])
def test_bad_workspace_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                            text: str, line: int, key: str, fix: str) -> None:
    ws = _workspace(tmp_path, text)
    (ws / "deep").mkdir()
    monkeypatch.chdir(ws / "deep")  # found by walking up
    assert cli.main(["targets"]) == 2
    err = capsys.readouterr().err
    assert f"{ws / 'tflm-build.yaml'}:{line}" in err and key in err and fix in err, err
    assert "Traceback" not in err


def test_target_is_a_name_and_shadowing_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path, "targets: [targets]\n")
    (ws / "targets" / "board.yaml").write_text(QEMU_BOARD)
    monkeypatch.chdir(ws)
    assert cli.main(["fetch", "TARGET=targets/board.yaml"]) == 2
    err = capsys.readouterr().err
    assert "is a path, not a target name" in err and "TARGET=board" in err
    (ws / "targets" / "linux.yaml").write_text("description: our linux\nextends: _common\n")
    assert cli.main(["targets"]) == 0
    captured = capsys.readouterr()
    assert "target 'linux' shadows the shipped one" in captured.err and "linux.yaml" in captured.err
    (ws / "tflm-build.yaml").write_text("targets: [targets]\nreplaces: [linux]\n")  # said so: no warning
    assert cli.main(["targets"]) == 0
    assert "shadows" not in capsys.readouterr().err


def test_init_refuses_a_non_empty_folder_and_unknown_examples(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    assert cli.main(["init", str(tmp_path / "full")]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert _tree(tmp_path) == {"full", "full/mine.txt"}
    assert cli.main(["init", "--example", "hello_wrld", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert "hello_world" in err and not (tmp_path / "new").exists()
    assert _tree(tmp_path) == {"full", "full/mine.txt"}  # nothing half-written beside it either
