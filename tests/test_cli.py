"""The tflm-build CLI: every command, its --help, exit codes 0/1/2, caches shared across checkouts."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, Fixture, copy_repo, run_scons

from tflm_build.cli import main as cli

COMMANDS = ("build", "run", "test", "generate", "size", "clean", "fetch", "deps", "vendor", "targets", "examples",
            "doctor", "ci")


def tflm_build(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tflm_build.cli", *args], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    assert f"usage: tflm-build {command}" in capsys.readouterr().out


def test_top_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(c in out for c in COMMANDS) and "0 ok, 1 a build or test failed, 2 bad input" in out


def test_exit_codes(fx: Fixture, tmp_path: Path) -> None:
    env = {**fx.env, "PYTHONPATH": str(REPO)}
    gen = f"GEN_DIR={fx.gen}"
    ok = tflm_build(["run", "hello_world", gen], env)
    assert ok.returncode == 0 and "PASS  run_hello_world" in ok.stdout, ok.stdout + ok.stderr
    usage = tflm_build(["build", "helo_world", gen], env)
    assert usage.returncode == 2 and "unknown goal 'helo_world'" in usage.stderr
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.cc").write_text("int main() { return nope; }\n")
    (app / "app.yaml").write_text("description: broken\nprograms:\n  broken:\n    sources: [main.cc]\n")
    failed = tflm_build(["build", "broken", f"APP={app / 'app.yaml'}", gen], env)
    assert failed.returncode == 1 and "FAILED: " in failed.stdout
    assert tflm_build(["ci", "--shard", "3/2"], env).returncode == 2
    assert tflm_build(["build", "--bogus-option"], env).returncode == 2  # argparse usage errors


def test_bad_cache_dir_and_launcher(fx: Fixture, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    res = fx.scons("microlite", f"CACHE_DIR={blocker / 'cache'}")
    assert res.returncode == 2 and "CACHE_DIR=" in res.stderr and "is not a writable folder" in res.stderr
    env = {"TFLM_BUILD_CACHE_DIR": str(blocker)}
    res = fx.scons("microlite", env=env)
    assert res.returncode == 2 and "TFLM_BUILD_CACHE_DIR=" in res.stderr
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert fx.scons("microlite", f"CACHE_DIR={locked}").returncode == 2
    res = fx.scons("microlite", "COMPILER_LAUNCHER=no-such-launcher")
    assert res.returncode == 2 and "COMPILER_LAUNCHER=no-such-launcher is not installed" in res.stderr
    assert "valid choices: ccache, sccache, distcc, icecc" in res.stderr and "Traceback" not in res.stderr


def test_cache_hits_across_checkouts(fx: Fixture, tmp_path: Path) -> None:
    """Two checkouts in different folders, default gen/ in each: the second compiles nothing."""
    cache = tmp_path / "objects"
    first, second = copy_repo(tmp_path / "a" / "tflm-build"), copy_repo(tmp_path / "b" / "checkout")
    env = {**fx.env, "TFLM_BUILD_CACHE_DIR": str(cache)}
    cold = run_scons(["hello_world"], env, repo=first)
    assert cold.returncode == 0, cold.output
    compiled = [line for line in cold.stdout.splitlines() if "] CXX " in line]
    warm = run_scons(["hello_world"], env, repo=second)
    assert warm.returncode == 0, warm.output
    assert not re.search(r"\] (CXX|CC|AR|LINK) ", warm.stdout), warm.stdout
    cached = [line for line in warm.stdout.splitlines() if "] CACHED obj/" in line]
    assert len(cached) == len(compiled) >= 10
    assert (second / "gen").is_dir() and not any(str(first) in line for line in cached)


def test_targets_table_and_doctor(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["targets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TARGET", "ARCHES", "RUNNER", "PROJECTS", "INSTALLED"]
    linux = next(line for line in lines if line.startswith("linux "))
    assert "x86_64" in linux and "host" in linux and "make, cmake" in linux and re.search(r"g\+\+ \d+\.\d+", linux)
    cli.main(["doctor"])
    out = capsys.readouterr().out
    for word in ("Toolchains, runners and tools", "qemu-system-arm", "Compiler launchers", "distcc", "Caches",
                 "TFLM_BUILD_CACHE", "TFLM_BUILD_CACHE_DIR"):
        assert word in out
    # a MISSING line and "Nothing missing." never together; each target's own needs are checked
    assert ("Nothing missing." in out) != ("  MISSING " in out)
    for tool, target in (("qemu-system-arm", "cortex_m_qemu"), ("idf.py", "esp"), ("ninja", "mbed")):
        assert re.search(rf"^  (ok|MISSING) +{re.escape(tool)} .*\[{target}\]$", out, re.M), (tool, out)
    assert not re.search(r"g\+\+ .*\[(esp|mbed)\]", out)  # project-only targets compile nothing here
    cli.main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    missing = {m["name"] for m in report["missing"]}
    assert missing == {c["name"] for c in report["checks"] if c["state"] in ("missing", "too old")}
    assert ("idf.py" in missing) == (shutil.which("idf.py") is None)
    cli.main(["targets", "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["linux"]["runner"] == "host" and "x86_64" in rows["linux"]["arches"]
    assert [i["tool"] for i in rows["mbed"]["installed"]] == ["cmake", "ninja"]
    cli.main(["examples", "--json"])
    examples = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert examples["hello_world"]["programs"] == ["hello_world_test", "hello_world"]


def test_generate_and_size_map_onto_goals(fx: Fixture, tmp_path: Path) -> None:
    env = {**fx.env, "PYTHONPATH": str(REPO)}
    gen = f"GEN_DIR={fx.gen}"
    made = tflm_build(["generate", "hello_world", "--kind", "make", gen], env)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (fx.gendir() / "prj" / "hello_world" / "make").is_dir()
    chart = tmp_path / "size.svg"
    size = tflm_build(["size", "hello_world", "--chart", str(chart), gen], env)
    assert size.returncode == 0, size.stdout + size.stderr
    assert "hello_world: text" in size.stdout and chart.read_text().startswith("<svg")
    as_json = tflm_build(["size", "hello_world", "--json", gen], env)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    totals = report["totals"]
    assert totals["text"] > 0 and totals["flash"] == totals["text"] + totals["data"]
    assert re.search(rf"text {totals['text']:,} data {totals['data']:,} bss {totals['bss']:,}", size.stdout)
    assert sum(o["text"] for o in report["objects"]) <= totals["text"] and report["config"] == fx.gendir().name
    assert tflm_build(["generate", "hello_world", "--kind", "nope", gen], env).returncode == 2


def test_clean_without_goals_and_clean_all(fx: Fixture) -> None:
    """`tflm-build clean` with no goal removes the configuration's folder (it once failed: unknown goal '.')."""
    env = {**fx.env, "PYTHONPATH": str(REPO)}
    gen = f"GEN_DIR={fx.gen}"
    for target in ("TARGET=linux", "TARGET=cortex_m_generic"):
        built = tflm_build(["build", "microlite", gen, target], env)
        assert built.returncode == 0, built.stdout + built.stderr
    linux, generic = fx.gendir(), fx.gen / "cortex_m_generic_cortex-m4_default_gcc"
    assert linux.is_dir() and generic.is_dir()
    cleaned = tflm_build(["clean", gen], env)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not linux.exists() and generic.is_dir()  # only the configuration asked for
    refused = tflm_build(["clean", "microlite", "--all", gen], env)
    assert refused.returncode == 2 and "do not mix" in refused.stderr
    everything = tflm_build(["clean", "--all", gen], env)
    assert everything.returncode == 0 and not fx.gen.exists()


@pytest.mark.parametrize("line, expected", [
    ("tflm-build gen", {"generate"}),
    ("tflm-build run hel", {"hello_world"}),
    ("tflm-build build TARGET=cortex", {"TARGET=cortex_m_generic", "TARGET=cortex_m_qemu"}),
    ("tflm-build build TARGET=cortex_m_qemu TARGET_ARCH=cortex-m55+", {"TARGET_ARCH=cortex-m55+nofp",
                                                                     "TARGET_ARCH=cortex-m55+nodsp+nofp"}),
    ("tflm-build generate micro", {"micro_speech"}),
])
def test_shell_completion(tmp_path: Path, line: str, expected: set[str]) -> None:
    """What argcomplete answers a shell (bash/zsh) for a partly typed command line."""
    out = tmp_path / "completions"
    env = {**os.environ, "PYTHONPATH": str(REPO), "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n", "COMP_LINE": line,
           "COMP_POINT": str(len(line)), "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
    subprocess.run([sys.executable, "-m", "tflm_build.cli"], env=env, cwd=tmp_path, capture_output=True, timeout=60)
    assert {c.strip() for c in out.read_text().splitlines() if c.strip()} == expected
