"""SCons Tool modules, one per capability (PlatformIO's builder/tools layout).

Each module has ``exists(env)`` (can this tool work here: is its program installed?)
and ``generate(env)``, which reads its settings from construction variables
(``TFLM_*``, set when the environment is created) and adds the variables and
``env.AddMethod`` methods the build uses.  :func:`tool` hands a module to SCons's
``tools=[...]`` list, so SCons applies it like its own tools and records it in
``$TOOLS``; the module object stays the package's own (loading it again from a
``toolpath`` would give it a second identity, with its own module state).
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, Callable


def tool(module: ModuleType) -> Callable[[Any], None]:
    """An SCons tool (a callable SCons applies) made of one of these modules."""
    name = "tflm_" + module.__name__.rpartition(".")[2]

    def apply(env: Any) -> None:
        env.AppendUnique(TOOLS=[name])
        module.generate(env)

    apply.__name__ = name
    return apply
