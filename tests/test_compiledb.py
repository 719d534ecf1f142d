"""compile_commands.json: written with every build of a configuration and by the compiledb goal; usable by clangd."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import Fixture


def test_written_by_default_and_every_command_compiles(fx: Fixture, tmp_path: Path) -> None:
    res = fx.scons("hello_world", "COMPILER_LAUNCHER=ccache" if shutil.which("ccache") else "V=0",
                   env={"CCACHE_DIR": str(tmp_path / "ccache")})
    assert res.returncode == 0, res.output
    db = fx.gendir() / "compile_commands.json"
    entries = json.loads(db.read_text())
    objects = {str(p) for p in (fx.gendir() / "obj").rglob("*.o")}
    assert objects <= {e["output"] for e in entries}
    for entry in entries:
        words = shlex.split(entry["command"])
        assert "ccache" not in words[0] and not any("diagnostics-color" in w for w in words)
        assert Path(entry["file"]).is_absolute() and Path(entry["file"]).is_file()
        out = tmp_path / "check.o"
        words[words.index("-o") + 1] = str(out)
        proc = subprocess.run(words, cwd=entry["directory"], capture_output=True, text=True)
        assert proc.returncode == 0, (entry["command"], proc.stderr)
    stamp = db.stat().st_mtime_ns
    assert "nothing to rebuild" in fx.scons("hello_world").stdout
    assert db.stat().st_mtime_ns == stamp  # a no-op build leaves it alone


def test_compiledb_goal_and_clangd(fx: Fixture) -> None:
    res = fx.scons("compiledb")
    assert res.returncode == 0, res.output
    db = fx.gendir() / "compile_commands.json"
    entries = json.loads(db.read_text())
    assert any(e["file"].endswith("kernels/add.cc") for e in entries)
    assert not (fx.gendir() / "obj").exists()  # the goal compiles nothing
    if shutil.which("clangd") is None:
        pytest.skip("clangd not installed (apt-get install clangd): entries checked by compiling only")
    source = next(e["file"] for e in entries if e["file"].endswith("micro_interpreter.cc"))
    proc = subprocess.run(["clangd", f"--compile-commands-dir={db.parent}", f"--check={source}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "All checks completed, 0 errors" in proc.stderr, proc.stderr[-3000:]
