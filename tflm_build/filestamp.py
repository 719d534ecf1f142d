"""When a remembered fact about a file may be reused: a stamp that no edit can keep.

A cache keyed by a file's mtime alone is stale whenever an edit lands in the same
timestamp tick as the run that filled it (SCons reads whole seconds; Linux keeps
nanoseconds but advances them only every few milliseconds).  Two rules close that:

* the stamp is (mtime, ctime, size, inode) in nanoseconds.  ctime cannot be set by
  a user and moves on every write or rename, so an edit that restores the mtime or
  keeps the size is still seen;
* a stamp is *trusted* only if it was taken when the file was already older than
  ``RACY_WINDOW_NS`` (git's "racy clean" rule): a later write in the same tick as the
  one we saw is then impossible, whatever the filesystem's timestamp resolution
  (1-2 s on FAT, HFS+ and some network filesystems).  A file written in the last
  two seconds is simply read again.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

Stamp = tuple[int, int, int, int]

RACY_WINDOW_NS = 2_000_000_000


def stamp(path: str | Path) -> Stamp | None:
    """The file's current stamp, None if it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def trusted_stamp(path: str | Path) -> Stamp | None:
    """The stamp to remember with a fact read from the file *after* this call; None: do not remember.

    Call it before reading the file: a write during the read then changes the
    stamp, and the fact is not reused.
    """
    now = time.time_ns()
    current = stamp(path)
    if current is None or now - max(current[0], current[1]) <= RACY_WINDOW_NS:
        return None
    return current
