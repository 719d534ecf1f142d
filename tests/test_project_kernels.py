"""PROJECT_KERNELS=model: a generated project holds only the kernels its example's models need, builds and
runs; the default keeps every kernel; a bad value is refused."""
from __future__ import annotations

import shutil
from pathlib import Path

from conftest import Fixture
from test_model_aware import _tree
from test_projects import HOST, _generate, _run, _usage_error

KERNELS = "tensorflow/lite/micro/kernels/"


def test_model_kernels_project_builds_and_runs(fx: Fixture, tmp_path: Path) -> None:
    env = {"TFLM_ROOT": str(_tree(tmp_path, [(0, None)]))}  # the models use ADD; the resolver registers it
    res = _generate(fx, "PROJECT_KERNELS=model", "generate_hello_world_make_project", env=env)
    assert "hello_world project: 2 of 4 kernel files for ADD" in res.stderr
    project = fx.gendir(HOST) / "prj" / "hello_world" / "make"
    makefile = (project / "Makefile").read_text()
    assert f"{KERNELS}add.cc" in makefile and f"{KERNELS}mul.cc" not in makefile
    assert not (project / KERNELS / "mul.cc").exists()
    assert "PROJECT_KERNELS=model" in (project / "README.md").read_text()
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    assert "add via resolver: 5" in _run(["make", "-j2", "run"], copy)

    _generate(fx, "generate_hello_world_make_project", env=env)  # the default: every kernel again
    assert (project / KERNELS / "mul.cc").is_file()
    assert "PROJECT_KERNELS" not in (project / "README.md").read_text()


def test_bad_project_kernels_value(fx: Fixture) -> None:
    _usage_error(fx.scons("PROJECT_KERNELS=some", "generate_hello_world_make_project"),
                 "unknown PROJECT_KERNELS 'some'", "all, model")
