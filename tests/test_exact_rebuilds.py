"""Every edit is seen, however soon after a build: 100 edit-then-build cycles against a clean build.

Each edit keeps the file's size and puts its mtime back to the value the previous
build saw (a stricter case than an edit within the same second: a timestamp
decider of any resolution misses it).  After every cycle the incremental build
must equal a clean build of the same sources byte for byte, and must have
compiled, linked and rerun exactly what the edit changed.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from conftest import FIXTURE_TREE, Result, compiled, copy_repo, fixture_env, run_scons

pytestmark = pytest.mark.slow

CYCLES = int(os.environ.get("STRESS_CYCLES", "100"))
MICRO = "tensorflow/lite/micro"
HEADER_DEPENDENTS = ["add", "add_test", "kernel_util", "micro_interpreter", "mul"]
ALL_OBJECTS = sorted(HEADER_DEPENDENTS + ["common", "debug_log", "hello_world_float_model_data",
                                         "hello_world_int8_model_data", "hello_world_test",
                                         "memory_helpers_test", "window"])


@dataclass(frozen=True)
class Edit:
    """One kind of edit: the file, how cycle ``n`` rewrites it, and what must be compiled again."""

    name: str
    path: Callable[["Workspace"], Path]
    rewrite: Callable[[bytes, int], bytes]
    compiles: list[str]


def _sub(pattern: bytes, make: Callable[[int], bytes]) -> Callable[[bytes, int], bytes]:
    def rewrite(data: bytes, n: int) -> bytes:
        new, count = re.subn(pattern, make(n), data, count=1)
        assert count == 1, pattern
        return new
    return rewrite


EDITS = [
    Edit("source", lambda w: w.tree / MICRO / "kernels/add.cc",
         _sub(rb'return "[^"]{9}";', lambda n: b'return "ref-s%04d";' % n), ["add"]),
    Edit("header", lambda w: w.tree / MICRO / "kernels/kernel_util.h",
         _sub(rb"includes [^.]{11}\.", lambda n: b"includes header%05d." % n),
         HEADER_DEPENDENTS),
    Edit("test source", lambda w: w.tree / MICRO / "kernels/add_test.cc",
         _sub(rb'printf\("[^:]{18}:', lambda n: b'printf("stress cycle %05d:' % n), ["add_test"]),
    Edit("model", lambda w: w.tree / MICRO / "examples/hello_world/models/hello_world_int8.tflite",
         lambda data, n: b"TFL3%04d" % n, ["hello_world_int8_model_data"]),
    Edit("target flag", lambda w: w.repo / "targets/linux.yaml",
         _sub(rb"STRESS_FLAG=\d{4}", lambda n: b"STRESS_FLAG=%04d" % n), ALL_OBJECTS),
]


class Workspace:
    """A repository copy and a fixture tree copy, built incrementally in one gen folder and cleanly in another."""

    def __init__(self, tmp: Path) -> None:
        self.repo = copy_repo(tmp / "repo")
        self.tree = tmp / "tree"
        shutil.copytree(FIXTURE_TREE, self.tree)
        target = self.repo / "targets/linux.yaml"
        target.write_text(target.read_text() + "flags:\n  defines:\n    - STRESS_FLAG=0000\n")
        self.env = {**fixture_env(tmp), "TFLM_ROOT": str(self.tree)}
        self.incremental, self.clean = tmp / "gen", tmp / "gen-clean"

    def build(self, gen: Path) -> Result:
        res = run_scons([f"GEN_DIR={gen}", "test"], self.env, self.repo)
        assert res.returncode == 0 and res.stdout.strip().endswith("3 passed, 0 failed"), res.output
        return res

    def clean_build(self) -> None:
        shutil.rmtree(self.clean, ignore_errors=True)
        self.build(self.clean)


def outputs(gen: Path) -> dict[str, bytes]:
    """Every object, library, program and test log of the configuration, by path below it."""
    top = gen / "linux_x86_64_default_gcc"
    files = [p for p in top.rglob("*") if p.is_file() and (p.suffix in (".o", ".a", ".log") or p.parent.name == "bin"
                                                            and not p.suffix)]
    return {str(p.relative_to(top)): p.read_bytes() for p in files}


def digest(files: dict[str, bytes], folder: str) -> dict[str, str]:
    return {Path(k).name: hashlib.sha256(v).hexdigest() for k, v in files.items() if k.startswith(folder)}


def test_every_edit_right_after_a_build_is_seen(tmp_path: Path) -> None:
    w = Workspace(tmp_path)
    w.build(w.incremental)
    before = outputs(w.incremental)
    stale = []
    for n in range(1, CYCLES + 1):
        edit = EDITS[n % len(EDITS)]
        path = edit.path(w)
        seen = os.stat(path)
        path.write_bytes(edit.rewrite(path.read_bytes(), n))
        os.utime(path, ns=(seen.st_atime_ns, seen.st_mtime_ns))  # the timestamp the previous build saw
        assert os.stat(path).st_size == seen.st_size
        res = w.build(w.incremental)
        after = outputs(w.incremental)
        w.clean_build()
        if after != outputs(w.clean):
            stale.append(f"cycle {n} ({edit.name}): differs from a clean build")
        programs = digest(before, "bin/"), digest(after, "bin/")
        changed = sorted(p for p in programs[1] if programs[0].get(p) != programs[1][p])
        linked = sorted(re.findall(r"\bLINK\s+bin/(\S+)", res.stdout))
        rerun = sorted(re.findall(r"^PASS  test_(\S+)", res.stdout, re.M))
        assert compiled(res.stdout) == sorted(edit.compiles), f"cycle {n} ({edit.name}):\n{res.stdout}"
        assert set(changed) <= set(linked), f"cycle {n} ({edit.name}):\n{res.stdout}"
        assert rerun == changed, f"cycle {n} ({edit.name}): reran {rerun}, binaries changed {changed}\n{res.stdout}"
        before = after
    assert stale == []
    # What each kind of edit must reach: the test's log shows the edited string.
    assert b"stress cycle " in before["test_results/kernel_add_test.log"]
    assert b"ref-s" in before["test_results/kernel_add_test.log"]
