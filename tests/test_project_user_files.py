"""Generated projects never silently overwrite or delete what the user changed or added.

The manifest holds each written file's hash: an edited generated file is
renamed to <file>.user before it is regenerated or removed, and
`scons -c generate_..._project` removes only the files written and unchanged.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from conftest import FIXTURE_TREE, Fixture
from tflm_build.model.targets import host_arch

GOAL = "generate_hello_world_make_project"


def project(fx: Fixture, tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    env = {"TFLM_ROOT": str(tree)}
    res = fx.scons(GOAL, env=env)
    assert res.returncode == 0, res.output
    return env, tree, fx.gendir(f"linux_{host_arch()}_default_gcc") / "prj" / "hello_world" / "make"


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_regeneration_sets_edited_files_aside_and_keeps_added_ones(fx: Fixture, tmp_path: Path) -> None:
    env, tree, prj = project(fx, tmp_path)
    generated = (prj / "Makefile").read_text()
    (prj / "Makefile").write_text(generated + "# my change\n")
    (prj / "notes.txt").write_text("mine\n")
    window = prj / "signal/src/window.cc"
    window.write_text(window.read_text() + "// my fix\n")

    res = fx.scons(GOAL, env=env)  # the edited Makefile is an output that changed: regenerated
    assert res.returncode == 0, res.output
    assert f"tflm-build: {prj / 'Makefile'} was changed since it was generated: your version is kept as " \
           "Makefile.user" in res.stdout
    assert (prj / "Makefile").read_text() == generated
    assert (prj / "Makefile.user").read_text() == generated + "# my change\n"
    assert (prj / "notes.txt").read_text() == "mine\n"
    assert "kept as window.cc.user" in res.stdout and (prj / "signal/src/window.cc.user").read_text().endswith(
        "// my fix\n")

    (prj / "signal/src/window.cc").write_text("// edited again\n")
    (tree / "signal/src/window.cc").unlink()  # no longer part of the project: edited, so set aside, not deleted
    res = fx.scons(GOAL, env=env)
    assert res.returncode == 0, res.output
    assert not (prj / "signal/src/window.cc").exists()
    assert (prj / "signal/src/window.cc.user.1").read_text() == "// edited again\n"
    assert "kept as window.cc.user.1" in res.stdout

    again = fx.scons(GOAL, env=env)  # nothing changed since: nothing written, nothing set aside
    assert again.returncode == 0 and "PRJ" not in again.stdout and ".user" not in again.stdout, again.output


def test_clean_removes_only_unchanged_generated_files(fx: Fixture, tmp_path: Path) -> None:
    env, tree, prj = project(fx, tmp_path)
    written = files(prj)
    assert "Makefile" in written and len(written) > 5
    (prj / "README.md").write_text("my notes on the project\n")
    (prj / "mine").mkdir()
    (prj / "mine" / "extra.cc").write_text("int extra() { return 1; }\n")

    res = fx.scons("-c", GOAL, env=env)
    assert res.returncode == 0, res.output
    assert files(prj) == {"README.md", "mine/extra.cc"}
    assert f"removed {len(written) - 1} generated file(s) from {prj}; kept 2 you changed or added: README.md, " \
           "mine/extra.cc" in res.stdout
    assert (prj / "README.md").read_text() == "my notes on the project\n"

    res = fx.scons(GOAL, env=env)  # generating again: the user's README is set aside, not overwritten
    assert res.returncode == 0, res.output
    assert (prj / "README.md.user").read_text() == "my notes on the project\n"
    assert (prj / "mine" / "extra.cc").is_file() and "Makefile" in files(prj)
