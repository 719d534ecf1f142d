"""Code and data of object files, to show that two builds (e.g. with and without PCH) made the same objects.

An object's bytes differ for reasons that do not matter (the path of a
temporary file, the order of string-table entries), so what is compared is
what the program gets: the contents and relocations of every ``.text*``,
``.data*`` and ``.rodata*`` section, as ``objdump -s -r`` prints them.
"""
from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

KEPT = (".text", ".data", ".rodata")
_BLOCK = re.compile(r"^(?:Contents of section (\S+):|RELOCATION RECORDS FOR \[(\S+)\]:)$", re.M)


def sections(objdump: str, obj: Path) -> dict[str, str]:
    """Section name (``relocs:`` prefixed for relocations) -> objdump's text, for the kept sections."""
    text = subprocess.run([objdump, "-s", "-r", str(obj)], capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = {}
    marks = list(_BLOCK.finditer(text))
    for mark, following in zip(marks, [*marks[1:], None]):
        name = mark.group(1) or mark.group(2)
        body = text[mark.end(): following.start() if following else len(text)]
        if name.startswith(KEPT):
            found[name if mark.group(1) else f"relocs:{name}"] = body.strip()
    return found


def differing(objdump: str, first: Path, second: Path, jobs: int = 2) -> list[str]:
    """Objects (relative paths) whose kept sections differ between two folders, or that only one has."""
    names = sorted({str(p.relative_to(first)) for p in first.rglob("*.o")} |
                   {str(p.relative_to(second)) for p in second.rglob("*.o")})

    def same(name: str) -> bool:
        a, b = first / name, second / name
        return a.is_file() and b.is_file() and sections(objdump, a) == sections(objdump, b)

    with ThreadPoolExecutor(jobs) as pool:
        return [name for name, ok in zip(names, pool.map(same, names)) if not ok]
