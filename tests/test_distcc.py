"""Compiles sent through distcc: a distccd on 127.0.0.1 serves the fixture tree's compile jobs."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import Fixture

pytestmark = pytest.mark.skipif(shutil.which("distccd") is None or shutil.which("distcc") is None,
                                reason="distcc not installed (apt-get install distcc)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def distccd() -> Iterator[tuple[int, Path]]:
    """A distccd on 127.0.0.1; its log lives in a world-writable folder (as root it runs as user distccd)."""
    folder = Path(tempfile.mkdtemp(prefix="distccd-"))
    folder.chmod(0o777)
    log = folder / "distccd.log"
    log.touch()
    log.chmod(0o666)
    port = _free_port()
    proc = subprocess.Popen(["distccd", "--daemon", "--no-detach", "--listen", "127.0.0.1", "--port", str(port),
                             "--allow", "127.0.0.1", "--jobs", "2", "--log-file", str(log), "--log-level", "info"],
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("distccd did not start listening")
        yield port, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_fixture_tree_builds_through_distcc(fx: Fixture, tmp_path: Path, distccd: tuple[int, Path]) -> None:
    port, log = distccd
    state = tmp_path / "distcc-state"
    state.mkdir()
    slots = (os.cpu_count() or 1) + 4
    env = {"DISTCC_HOSTS": f"127.0.0.1:{port}/{slots}", "DISTCC_FALLBACK": "0", "DISTCC_DIR": str(state)}
    res = fx.scons("COMPILER_LAUNCHER=distcc", "hello_world", env=env)
    assert res.returncode == 0, res.output
    compiled = [line for line in res.stdout.splitlines() if "] CXX " in line]
    assert len(compiled) >= 10, res.stdout
    assert "] PCH" not in res.stdout  # remote hosts lack the PCH: it is off
    served = [line for line in log.read_text().splitlines() if "COMPILE_OK" in line]
    assert len(served) == len(compiled), log.read_text()  # fallbacks are off: every compile went to distccd
    assert any("kernels/add.cc" in line for line in served)
    # the host offers more slots than this machine has cores: -j follows distcc, not the cores
    assert res.stdout.rstrip().endswith(f"with -j{slots}"), res.stdout
    assert (fx.gendir() / "bin" / "hello_world").is_file()
