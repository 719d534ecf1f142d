"""The library's object and archive nodes, declared when a goal needs them.

Declaring the ~250 objects of the full library costs a tenth of a second of
every SCons start-up, and a model-aware program needs only the core and its
few kernels.  So objects are declared on first use and shared: the full
``libtensorflow-microlite.a`` (goal ``microlite``, unit tests, ``MODEL_AWARE=0``,
a model-aware fallback) and every per-program subset archive (fewer core and kernel files) link the
same object files, compiled once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..model.targets import Optimization
from ..resources import REPO
from ..scons_tools import pch


def object_path(path: str) -> str:
    """Object path below obj/<group>/ for a source: TFLM-relative, or <repo>/... for our glue."""
    p = Path(path)
    if not p.is_absolute():
        return str(p.with_suffix(".o"))
    try:
        return str(Path("tflm_build_glue") / p.relative_to(REPO).with_suffix(".o"))
    except ValueError:
        return str(Path("external") / p.relative_to(p.anchor).with_suffix(".o"))


class LibraryNodes:
    """Object nodes of one configuration's library selection, and the archives made of them."""

    def __init__(self, env: Any, tflm: Path, gen: Path, library: Any, opt: Optimization) -> None:
        self.env, self.tflm, self.gen, self.library = env, tflm, gen, library
        self._levels = {"core": opt.core, "kernels": opt.kernel, "third_party": opt.core,
                        "third_party_kernels": opt.third_party_kernel}
        self._envs: dict[str, Any] = {}
        self._objects: dict[tuple[str, str], list[Any]] = {}
        self._paths: dict[str, Path] = {}
        self._full: Any = None

    def _object(self, group: str, src: str | Path, rel: str) -> list[Any]:
        key = (group, str(src))
        if key not in self._objects:
            if group not in self._envs:
                genv = self._envs[group] = self.env.Clone()
                genv.Append(CCFLAGS=[self._levels[group]])
            self._objects[key] = pch.objects(self._envs[group], group, str(self.gen / "obj" / group / rel),
                                             self._path(src), lambda: self.members(group))
        return self._objects[key]

    def _path(self, src: str | Path) -> Path:
        key = str(src)
        if key not in self._paths:  # each source's Path is made once: objects and the PCH's members share it
            self._paths[key] = Path(src) if Path(src).is_absolute() else self.tflm / src
        return self._paths[key]

    def members(self, group: str) -> list[Path]:
        """Every source of ``group`` in the full library (a PCH's header set is chosen from them)."""
        tp = self.library.third_party
        files = {"core": self.library.core, "kernels": self.library.kernels, "third_party": tp.sources,
                 "third_party_kernels": tp.kernel_sources}[group]
        return [self._path(f) for f in files]

    def _tflm_objects(self, group: str, files: Sequence[str]) -> list[Any]:
        return [o for src in files for o in self._object(group, src, object_path(src))]

    def third_party_objects(self) -> list[Any]:
        """Objects of the third-party sources every program links (kissfft, CMSIS-NN's library ...)."""
        tp = self.library.third_party
        objects: list[Any] = []
        for group, files in (("third_party", tp.sources), ("third_party_kernels", tp.kernel_sources)):
            for path in files:
                rel = Path(tp.origin.get(path, "dep")) / _dep_rel(path, tp.roots)
                objects += self._object(group, path, str(rel.with_suffix(".o")))
        return objects

    def full(self) -> Any:
        """The whole library, ``libtensorflow-microlite.a``, with its goal ``microlite``."""
        if self._full is None:
            objects = (self._tflm_objects("core", self.library.core)
                       + self._tflm_objects("kernels", self.library.kernels) + self.third_party_objects())
            self._full = self.env.StaticLibrary(str(self.gen / "lib" / "tensorflow-microlite"), objects)
            self.env.Alias("microlite", self._full)
        return self._full

    def subset(self, name: str, kernels: Sequence[str], core: Sequence[str]) -> Any:
        """``core``, ``kernels`` and the third-party code: one program's model-aware library."""
        objects = (self._tflm_objects("core", core) + self._tflm_objects("kernels", kernels)
                   + self.third_party_objects())
        return self.env.StaticLibrary(str(self.gen / "lib" / "model_aware" / name / "tensorflow-microlite"), objects)


def _dep_rel(path: Path, roots: Sequence[Path]) -> Path:
    """A third-party file's path below its dependency root (its name when outside every root)."""
    for root in roots:
        try:
            return path.relative_to(root)
        except ValueError:
            continue
    return Path(path.name)
