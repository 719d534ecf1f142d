"""TARGET is a name and outputs stay below GEN_DIR: paths and dangerous output folders are refused before any work."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURE_DEPS, FIXTURE_TREE, REPO, Fixture
from tflm_build.cli.main import main as cli_main

TARGET_NAMES = "cortex_m_generic, cortex_m_qemu"


def snapshot(folder: Path) -> set[str]:
    """Every path below ``folder`` but Python's bytecode caches (the interpreter writes them on first import)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts} \
        if folder.exists() else set()


@pytest.mark.parametrize("value", ["../targets/linux", str(REPO / "targets" / "linux"), "linux/../linux", ".hidden"])
def test_target_is_a_name_not_a_path(fx: Fixture, value: str) -> None:
    res = fx.scons(f"TARGET={value}", "microlite")
    assert res.returncode == 2, res.output
    assert f"TARGET={value} is a path, not a target name (key 'TARGET')" in res.stderr
    assert TARGET_NAMES in res.stderr and "Traceback" not in res.output
    assert not fx.gen.exists()


@pytest.mark.parametrize("gen_dir, why", [
    ("/", "is the filesystem root"),
    ("{home}", "is your home folder"),
    ("{home_parent}", "is a parent of your home folder"),
    (str(REPO), "is the repository"),
    (str(REPO.parent), "is a parent of the repository"),
    (str(FIXTURE_TREE / "gen"), "is inside the dependency tree 'tflite_micro'"),
    (str(FIXTURE_DEPS), "is a parent of the dependency tree"),
])
def test_dangerous_gen_dir_is_refused(fx: Fixture, tmp_path: Path, gen_dir: str, why: str) -> None:
    home = tmp_path / "users" / "me"
    home.mkdir(parents=True)
    value = gen_dir.format(home=home, home_parent=home.parent)
    watched = [home.parent, REPO, FIXTURE_TREE, FIXTURE_DEPS]
    before = [snapshot(folder) for folder in watched]
    res = fx.scons(f"GEN_DIR={value}", "microlite", env={"HOME": str(home)})
    assert res.returncode == 2, res.output
    assert f"GEN_DIR={value} {why}" in res.stderr and "(key 'GEN_DIR')" in res.stderr
    assert "fix: choose a folder used only for build outputs" in res.stderr and "Traceback" not in res.output
    assert [snapshot(folder) for folder in watched] == before


def test_gen_dir_from_the_environment_is_checked_too(fx: Fixture, tmp_path: Path) -> None:
    env = {k: v for k, v in fx.env.items()}
    env["GEN_DIR"] = "/"
    from conftest import run_scons
    res = run_scons(["microlite"], env)
    assert res.returncode == 2 and "GEN_DIR=/ is the filesystem root" in res.stderr, res.output


@pytest.mark.parametrize("variables, line", [("  GEN_DIR: /\n", 4), ("  V: '1'\n  TARGET: linux\n", 5)])
def test_ci_variables_cannot_override_a_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str], variables: str,
                                             line: int) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text("targets: {linux: []}\nexamples: [hello_world]\nvariables:\n" + variables)
    assert cli_main(["ci", "--matrix", str(matrix), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    name = variables.strip().splitlines()[-1].split(":")[0].strip()
    assert f"{matrix}:{line}: 'variables' cannot set {name}" in err and f"(key 'variables.{name}')" in err, err
    assert not (tmp_path / "out").exists()
