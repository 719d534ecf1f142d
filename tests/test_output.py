"""What a build prints: numbered steps, diagnostics once and whole, colour only on a terminal, a closing line."""
from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

from conftest import REPO, SCONS, Fixture

STEP = re.compile(r"^\[ *(\d+)/(\d+)\] (\S+) +(\S+)$")


def test_numbered_steps_and_closing_line(fx: Fixture) -> None:
    res = fx.scons("hello_world")
    assert res.returncode == 0, res.output
    steps = [STEP.match(line) for line in res.stdout.splitlines() if line.startswith("[")]
    assert steps and all(steps), res.stdout
    numbers = [int(m[1]) for m in steps]
    assert numbers == list(range(1, len(steps) + 1))
    assert {int(m[2]) for m in steps} == {len(steps)}  # the total was known from the first line
    assert ("CXX", "tensorflow/lite/micro/kernels/add.cc") in {(m[3], m[4]) for m in steps}
    assert ("LINK", "bin/hello_world") in {(m[3], m[4]) for m in steps}
    closing = res.stdout.rstrip().splitlines()[-1]
    assert re.fullmatch(rf"tflm-build: hello_world: built \({len(steps)} steps\) in {fx.gendir()}/ in [\d.]+ s "
                        r"with -j\d+", closing), closing
    assert "\033[" not in res.output  # not a terminal: no colour
    again = fx.scons("hello_world")
    assert "nothing to rebuild" in again.stdout and "[" not in again.stdout.split("tflm-build: hello_world")[0]


def test_verbose_prints_numbered_full_commands(fx: Fixture) -> None:
    res = fx.scons("microlite", "V=1")
    lines = [line for line in res.stdout.splitlines() if line.startswith("[")]
    assert lines and all(" -c " in line or " rcsD " in line for line in lines), res.stdout
    assert not any("-fdiagnostics-color" in line for line in lines)


def _bad_app(folder: Path) -> Path:
    folder.mkdir()
    (folder / "main.cc").write_text("int main() { return undefined_name; }\n")
    (folder / "warn.cc").write_text("int g(int a) { if (a = 2) return 1; return 0; }\n")
    (folder / "app.yaml").write_text("description: broken\nprograms:\n  broken:\n    sources: [main.cc, warn.cc]\n")
    return folder / "app.yaml"


def test_diagnostics_once_and_whole(fx: Fixture, tmp_path: Path) -> None:
    app = _bad_app(tmp_path / "app")
    res = fx.scons(f"APP={app}", "broken", "-j2")
    assert res.returncode == 1
    out = res.stdout
    assert out.count("error: ‘undefined_name’ was not declared") + out.count("error: 'undefined_name' was not") == 1
    assert out.count("suggest parentheses around assignment") == 1  # a warning of a step that passed
    failed = next(line for line in out.splitlines() if line.startswith("FAILED: "))
    assert " -c " in failed and "main.cc" in failed  # the whole command, even without V=1
    after = out[out.index("FAILED: "):].splitlines()
    assert "undefined_name" in after[1] + after[2]  # the diagnostics follow their command at once
    assert out.rstrip().splitlines()[-1].startswith("tflm-build: FAILED broken: 1 step(s) failed (obj/core/app/main.o)")


def test_colour_on_a_terminal_only(fx: Fixture, tmp_path: Path) -> None:
    app = _bad_app(tmp_path / "app")
    leader, follower = pty.openpty()
    env = {**fx.env, "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([SCONS, "-C", str(REPO), "-Q", f"GEN_DIR={fx.gen}", f"APP={app}", "broken"], env=env,
                            stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 1
    assert "\033[01;31m\033[Kerror" in text or "\033[1;31m" in text  # gcc's colours and our FAILED
    piped = fx.scons(f"APP={app}", "broken")
    assert "\033[" not in piped.output
    assert "warn.cc" not in piped.stdout  # the colour flag is not in the signature: nothing rebuilds for it
