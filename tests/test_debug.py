"""debug_<program>: gdb stops at main and reads a local variable, on the host and under QEMU, through the
goal itself (GDB_BATCH only adds -batch -x to the interactive command); the generated projects' VS Code
launch configurations name the same program and debugger; targets that cannot debug say what to do."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import Fixture, copy_repo
from test_projects import _dfp, _generate, _usage_error, needs_arm

QEMU_M4 = ["TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4"]
needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not found (apt-get install gdb)")
needs_arm_gdb = pytest.mark.skipif(shutil.which("gdb-multiarch") is None and shutil.which("arm-none-eabi-gdb") is None,
                                   reason="no gdb for Arm (apt-get install gdb-multiarch)")


def _commands(tmp: Path) -> Path:
    """Step over the first statement of main (int f = RunModel(...)), print f, then let the program finish."""
    path = tmp / "commands.gdb"
    path.write_text("next\nprint f\ncontinue\n")
    return path


def _debug(fx: Fixture, tmp: Path, *args: str, env: dict[str, str] | None = None) -> str:
    res = fx.scons("BUILD_TYPE=debug", f"GDB_BATCH={_commands(tmp)}", *args, "debug_hello_world", env=env)
    assert res.returncode == 0, res.output
    out = res.output
    assert re.search(r"Breakpoint 1, main \(\) at \S*hello_world_test\.cc:\d+", out), out
    local = re.search(r"^\$1 = (-?\d+)$", out, re.M)
    printed = re.search(r"^float model: \d+ bytes -> (-?\d+)$", out, re.M)
    assert local and printed, out
    assert local.group(1) == printed.group(1)  # gdb read the value the program then printed
    return out


def _gdb_used(out: str) -> str:
    return re.search(r"^DEBUG (\S+) -q ", out, re.M).group(1)  # type: ignore[union-attr]


@needs_gdb
def test_host_debug_stops_at_main_and_reads_a_local(fx: Fixture, tmp_path: Path) -> None:
    out = _debug(fx, tmp_path)
    assert _gdb_used(out) == "gdb"
    assert "-ex 'break main' -ex run -batch -x" in out


@needs_arm
@needs_arm_gdb
def test_qemu_debug_stops_at_main_and_reads_a_local(fx: Fixture, tmp_path: Path) -> None:
    out = _debug(fx, tmp_path, *QEMU_M4, env=_dfp(tmp_path, "ARMCM4"))
    server = re.search(r"^DEBUG (qemu-system-arm .*)$", out, re.M)
    assert server and "-M mps2-an386" in server.group(1)
    port = re.search(r"-S -gdb tcp:127\.0\.0\.1:(\d+)$", server.group(1))
    assert port and f"-ex 'target remote 127.0.0.1:{port.group(1)}'" in out


@needs_gdb
@pytest.mark.parametrize("args", [[], QEMU_M4])
def test_launch_configuration_names_the_same_program_and_debugger(fx: Fixture, tmp_path: Path,
                                                                   args: list[str]) -> None:
    env = _dfp(tmp_path, "ARMCM4")
    if args and not shutil.which("qemu-system-arm"):
        pytest.skip("qemu-system-arm not found")
    debugged = _debug(fx, tmp_path, *args, env=env)
    _generate(fx, "BUILD_TYPE=debug", *args, "generate_hello_world_make_project", "generate_hello_world_cmake_project",
              env=env)
    config = "cortex_m_qemu_cortex-m4_debug_gcc" if args else next(p.name for p in fx.gen.glob("linux_*_debug_gcc"))
    for kind in ("make", "cmake"):
        vscode = fx.gendir(config) / "prj" / "hello_world" / kind / ".vscode"
        launch = json.loads((vscode / "launch.json").read_text())["configurations"][0]
        assert launch["program"] == "${workspaceFolder}/build/hello_world"
        assert launch["miDebuggerPath"] == _gdb_used(debugged)
        tasks = {t["label"]: t for t in json.loads((vscode / "tasks.json").read_text())["tasks"]}
        assert {"build", "run", "debug in the terminal (gdb)", launch["preLaunchTask"]} <= set(tasks)
        assert tasks["debug in the terminal (gdb)"]["command"].startswith(_gdb_used(debugged) + " -q ")
        if args:
            assert launch["miDebuggerServerAddress"] == "127.0.0.1:1234"
            assert "-S -gdb tcp:127.0.0.1:1234" in tasks[launch["preLaunchTask"]]["command"]
        properties = json.loads((vscode / "c_cpp_properties.json").read_text())["configurations"][0]
        assert ("compileCommands" in properties) == (kind == "cmake")
        assert "TF_LITE_STATIC_MEMORY" in properties["defines"]


def test_debug_refused_without_a_runner_or_a_debugger(fx: Fixture, tmp_path: Path) -> None:
    deps = [f"{d.upper()}_{v}" for d in ("ambiq_suite_sdk", "sparkfun_bsps")
            for v in (f"DIR={Path(__file__).parent / 'fixtures' / 'deps' / d}", "MODIFIED=1")]
    _usage_error(fx.scons("TARGET=sparkfun_edge", *deps, "debug_hello_world"),
                 "TARGET=sparkfun_edge cannot debug 'hello_world': it has no runner",
                 "gdb server (OpenOCD, pyOCD, J-Link)")
    _usage_error(fx.scons("TARGET=cortex_m_generic", "debug_hello_world", env=_dfp(tmp_path, "ARMCM4")),
                 "TARGET=cortex_m_generic cannot debug 'hello_world'", "TARGET=cortex_m_qemu")
    repo = copy_repo(tmp_path / "repo")
    # The targets that can debug are read from the target files: a new one is suggested too.
    (repo / "targets" / "my_qemu.yaml").write_text("extends: cortex_m_qemu\ndescription: our QEMU board\n")
    _usage_error(fx.scons("TARGET=cortex_m_generic", "debug_hello_world", repo=repo, env=_dfp(tmp_path, "ARMCM4")),
                 "debug on TARGET=cortex_m_qemu or TARGET=linux or TARGET=my_qemu;")
    linux = repo / "targets" / "linux.yaml"
    linux.write_text(linux.read_text().replace("gdb: [gdb]", "gdb: [no-such-gdb]"))
    _usage_error(fx.scons("debug_hello_world", repo=repo), "no debugger for TARGET=linux on PATH (tried no-such-gdb)",
                 "linux.yaml", "apt-get install gdb")
    _usage_error(fx.scons(f"GDB_BATCH={tmp_path / 'nothing.gdb'}", "debug_hello_world"), "GDB_BATCH=", "is not a file")
