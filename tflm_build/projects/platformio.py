"""The ``platformio`` project kind's module: which PlatformIO platform and board the project is for.

The files keep the layout generate.py gives them (TFLM below ``lib/tflm/``, the example
below ``src/``).  What templates cannot look up is the board: a host target builds with
PlatformIO's ``native`` platform; a Cortex-M target with the board its TARGET_ARCH has in
the kind's ``boards.yaml`` (data: platform, board, framework).  An arch without a board
is refused with the arches that have one.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ..errors import ConfigError
from ..scons_tools.project_files import Entry
from .generate import ProjectBuilder
from .kinds import Arrangement
from ..model.yamlio import load_yaml

BOARDS = "boards.yaml"
NATIVE = {"env": "native", "platform": "native", "board": "", "framework": ""}


def arrange(builder: ProjectBuilder, files: Mapping[str, Entry], roles: Mapping[str, Sequence[str]]) -> Arrangement:
    target = builder.build.target
    return Arrangement(dict(files), context=NATIVE if target.host else board(builder))


def board(builder: ProjectBuilder) -> dict[str, str]:
    path = builder.kind.folder / BOARDS
    boards = load_yaml(path)
    arch = builder.build.target.arch
    if arch not in boards:
        raise ConfigError(f"no PlatformIO board for TARGET_ARCH={arch}", file=path, key=arch, choices=sorted(boards),
                          fix=f"choose one of the arches above, or add '{arch}: {{platform: ..., board: ..., "
                              f"framework: ...}}' to {BOARDS}")
    return {"env": boards[arch]["board"], **{k: str(v) for k, v in boards[arch].items()}}
