"""Writing files so that no reader (another build, an editor, a crash's survivor) sees half of one."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def _temporary(path: Path) -> Path:
    """A name beside ``path``, unique per call: two processes writing one file never share it."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) through a temporary file in the same folder, then rename it.

    The rename is atomic on one file system: a reader sees the old file or the new one.
    The folder is created; the temporary is removed when writing fails.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temporary(path)
    try:
        if isinstance(data, bytes):
            temp.write_bytes(data)
        else:
            temp.write_text(data, encoding="utf-8")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def copy_atomic(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` the same way (a large archive is never seen half-copied)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = _temporary(dest)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)
