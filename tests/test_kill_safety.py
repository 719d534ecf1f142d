"""kill -9 of a build mid-compile, mid-archive and mid-link: the next build equals a clean build, byte for byte.

The toolchain is a folder of wrappers (TOOLCHAIN_ROOT) that run the real tools,
except at the step named in its ``kill_at`` file: there the wrapper leaves a
truncated output, as a killed compiler, archiver or linker would, and kills the
build's whole process group with SIGKILL.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURE_TREE, SCONS, fixture_env

pytestmark = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("ar") is None, reason="needs g++ and ar")

WRAPPER = r"""#!/bin/sh
here=$(dirname "$0")/..
tool=$(basename "$0")
case " $* " in
  *" -c "*) kind=compile ;;
  *" -o "*) kind=link ;;
  *) case "$tool" in ar) kind=archive ;; *) kind=other ;; esac ;;
esac
if [ -f "$here/kill_at" ]; then
  read -r want nth < "$here/kill_at"
  if [ "$want" = "$kind" ]; then
    echo "$*" >> "$here/seen"
    if [ "$(wc -l < "$here/seen")" -ge "$nth" ]; then
      rm -f "$here/kill_at" "$here/seen"
      out=; prev=
      for arg in "$@"; do [ "$prev" = "-o" ] && out=$arg; prev=$arg; done
      [ "$kind" = archive ] && out=$2
      printf 'a truncated output' > "$out"
      kill -9 0
    fi
  fi
fi
exec "$tool" "$@"
"""


class Killable:
    """The fixture tree, a wrapper toolchain and one gen folder."""

    def __init__(self, tmp: Path) -> None:
        self.tree = tmp / "tree"
        shutil.copytree(FIXTURE_TREE, self.tree)
        self.tools = tmp / "toolchain"
        (self.tools / "bin").mkdir(parents=True)
        for name in ("gcc", "g++", "ar", "objcopy", "size"):
            wrapper = self.tools / "bin" / name
            wrapper.write_text(WRAPPER)
            wrapper.chmod(0o755)
        self.gen = tmp / "gen"
        self.env = {**fixture_env(tmp), "TFLM_ROOT": str(self.tree)}

    def scons(self, kill_at: str = "") -> subprocess.CompletedProcess[str]:
        if kill_at:
            (self.tools / "kill_at").write_text(kill_at + "\n")
        # A session of its own: the wrapper's `kill -9 0` kills scons and its jobs, not pytest.
        proc = subprocess.run([SCONS, "-Q", "-j2", f"GEN_DIR={self.gen}", f"TOOLCHAIN_ROOT={self.tools}",
                               "build", "microlite"], cwd=str(Path(__file__).resolve().parent.parent),
                              env=self.env, capture_output=True, text=True, timeout=600, start_new_session=True)
        if kill_at:
            assert proc.returncode == -signal.SIGKILL, f"not killed at {kill_at}:\n{proc.stdout}{proc.stderr}"
            assert not (self.tools / "kill_at").exists()
        else:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def outputs(self) -> dict[str, bytes]:
        top = self.gen / "linux_x86_64_default_gcc"
        files = [p for p in top.rglob("*") if p.is_file() and (p.suffix in (".o", ".a") or p.parent.name == "bin"
                                                                and os.access(p, os.X_OK))]
        return {str(p.relative_to(top)): p.read_bytes() for p in files}


def test_killed_builds_then_rebuild_equal_a_clean_build(tmp_path: Path) -> None:
    k = Killable(tmp_path)
    k.scons()
    clean = k.outputs()
    assert any(n.endswith(".a") for n in clean) and any(n.startswith("bin/") for n in clean)
    shutil.rmtree(k.gen)

    for step in ("compile 3", "archive 1", "link 1"):
        k.scons(kill_at=step)
    rebuilt = k.scons()
    assert "was interrupted" in rebuilt.stderr
    assert k.outputs() == clean

    # An edit built up to the link, killed, then undone: the objects of the edit are complete
    # but no signature describes them; the old signatures match the undone source again.
    source = k.tree / "tensorflow/lite/micro/kernels/add.cc"
    original = source.read_text()
    source.write_text(original.replace('"reference"', '"edited!!!"'))
    k.scons(kill_at="link 1")
    source.write_text(original)
    k.scons()
    assert k.outputs() == clean
