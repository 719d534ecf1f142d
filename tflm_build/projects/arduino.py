"""The ``arduino`` project kind's module: the Arduino library layout its templates cannot make.

arduino-cli compiles every .c, .cpp and .S below a library's ``src/`` with ``-I src`` and nothing
else on the include path (no -D either), and a sketch's own folder.  So, after generate.py put
TFLM, the dependencies and the glue below ``src/`` in their layout (kind.yaml ``library_dir``):

- C++ sources are renamed .cc -> .cpp (headers keep their names, so includes still match);
  a source that other files include as code (kissfft's kiss_fft.c) gets ``.inc`` appended, or
  Arduino would compile it on its own as well;
- the example's files go flat into ``examples/<example>/`` beside the sketch, ``models/x.h``
  becoming ``models_x.h`` (as TFLM's own Arduino export named them), model data included;
- an ``#include`` that the Arduino build would no longer resolve to its file is rewritten:
  to the file's path below ``src/`` (``flatbuffers/base.h`` ->
  ``third_party/flatbuffers/include/flatbuffers/base.h``) or, for the example's own files, to
  the flat name; the rewriting happens when the file is copied (scons_tools/project.REWRITE);
- arduino-cli passes no -D options: every compiled source of the library and the example
  includes ``src/tflm_config.h`` (a template: the build's preprocessor symbols) first, and so
  does ``TensorFlowLite.h``, so TF_LITE_STATIC_MEMORY, CMSIS_NN ... hold in every file;
- the library's DebugLog and micro_time sources are left out: the kind's templates put
  Arduino ones (Serial, micros()) in ``src/tensorflow/lite/micro/arduino/``; so are startup
  code and linker scripts (the Arduino core has its own);
- an example with a main() instead of setup()/loop() gets ``#define main tflm_example_main``
  in front of its sources (what -Dmain= does for ESP-IDF), after its own defines; the sketch's
  setup() calls it.
"""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError
from .generate import ProjectBuilder
from .kinds import Arrangement
from ..scons_tools.project_files import ARRAY_CC, ARRAY_H, COPY, REWRITE, Entry

GLUE = ("debug_log.cc", "micro_time.cc")  # library sources the templates replace, by file name
CONFIG = "tflm_config.h"  # the build's preprocessor symbols (a template of the kind), below src/
EXAMPLE_MAIN = "tflm_example_main"
_COMPILED = (".c", ".cc", ".cpp", ".S")
_TEXT = (".c", ".cc", ".cpp", ".h", ".hpp", ".hh", ".inc", ".ipp")
_SETUP = re.compile(rb"^[ \t]*void[ \t]+setup[ \t]*\([ \t]*(void)?[ \t]*\)", re.M)
_DEBUG_LOG_VA_LIST = re.compile(rb"\bDebugLog[ \t]*\([^)]*\bva_list\b")
_VSNPRINTF = re.compile(rb"\bint[ \t]+(\w*Vsnprintf)[ \t]*\(")


def arrange(builder: ProjectBuilder, files: Mapping[str, Entry], roles: Mapping[str, Sequence[str]]) -> Arrangement:
    src, examples = builder.kind.library_dir + "/", builder.kind.example_dir + "/"
    sketch = f"examples/{builder.example.name}/"
    built = set(roles["library"]) | set(roles["app"])
    dropped = set(roles["startup"]) | set(roles["linker_script"])
    glue = {d for d in roles["library"] if posixpath.basename(d) in GLUE}
    renames: dict[str, str] = {}
    for dest in files:
        if dest in dropped or dest in glue:
            continue
        if dest.startswith(src):
            new = dest
        elif dest.startswith(examples):
            new = sketch + _flat(dest.removeprefix(examples), builder.roots.example_dir)
        else:
            raise ConfigError(f"the arduino layout has no place for {dest}",
                              fix="keep the files of an Arduino project below src/ or in the example")
        if new.endswith(_COMPILED) and dest not in built:
            new += ".inc"  # included as code by another file: not to be compiled alone
        elif new.endswith(".cc"):
            new = new[:-3] + ".cpp"
        renames[dest] = new
    present = set(renames.values())
    if len(present) < len(renames):
        twice = sorted(n for n in present if list(renames.values()).count(n) > 1)
        raise ConfigError(f"files of the {builder.example.name} example would share a name in the Arduino "
                          f"layout: {', '.join(twice)}", fix="give the example's files distinct names")

    # The example includes its model data by the path the other kinds give the headers.
    generated = {d.removeprefix(examples): renames[d] for d, e in files.items() if e.how == ARRAY_H}
    includes = _Includes(builder, src, renames, present, generated)
    example_sources = [files[d] for d in roles["app"] if files[d].how == COPY]
    defines_setup = any(_SETUP.search(Path(e.source).read_bytes()) for e in example_sources)
    arranged = Arrangement({}, renames)
    for old, new in renames.items():
        entry = files[old]
        if entry.how == ARRAY_CC:  # the .cc includes its header: by its new name
            arranged.files[new] = Entry(new, entry.how, entry.source, posixpath.basename(renames[old[:-3] + ".h"]))
            continue
        spec: dict[str, Any] = {}
        if entry.how == COPY and new.endswith(_TEXT):
            spec["include"] = includes.changes(Path(entry.source), new)
        if entry.how == COPY and new.endswith((".c", ".cpp")):  # compiled: give it the build's symbols
            spec["prepend"] = f'#include "{CONFIG}"  // the build\'s -D options (Arduino passes none)\n'
            if entry in example_sources:
                spec["prepend"] += "".join(f"#define {d.replace('=', ' ', 1)}\n" for d in builder.program.defines)
                if not defines_setup:
                    spec["prepend"] += f"#define main {EXAMPLE_MAIN}  // called by the sketch's setup()\n"
        spec = {k: v for k, v in spec.items() if v}
        arranged.files[new] = Entry(new, REWRITE, entry.source, json.dumps(spec, sort_keys=True)) if spec \
            else Entry(new, entry.how, entry.source, entry.text)
    arranged.context = {
        "sketch": sketch.rstrip("/"),
        "defines_setup": defines_setup,
        "micro_time": any(posixpath.basename(d) == "micro_time.cc" for d in glue),
        "debug_log": _debug_log(builder.build.tflm / "tensorflow/lite/micro/debug_log.h"),
    }
    return arranged


def _flat(rel: str, example_dir: str) -> str:
    """An example file's name in the sketch folder: its path below the example's folder, '/' -> '_'."""
    if example_dir and rel.startswith(example_dir + "/"):
        rel = rel[len(example_dir) + 1:]
    return rel.replace("/", "_")


@dataclass
class _Includes:
    """Which ``#include`` names of a file the Arduino build would not resolve to the same file, and their fix."""

    builder: ProjectBuilder
    src: str  # the library's folder, the Arduino build's only include folder ("src/")
    renames: Mapping[str, str]  # project path before -> after the arrangement
    present: set[str]  # every project path after it
    generated: Mapping[str, str]  # include name of a model data header -> its project path

    def changes(self, source: Path, new: str) -> dict[str, str]:
        """Include name -> the name under which the Arduino build finds the same file from ``new``."""
        changes: dict[str, str] = {}
        for name, quoted, target in self.builder.resolved_includes(source):
            if target is not None:
                old = self.builder.roots.dest(target)
                found = self.renames.get(old) if old is not None else None
            else:
                found = self.generated.get(name)
            if found is None or self.arduino_finds(new, name, quoted) == found:
                continue
            if found.startswith(self.src):
                changes[name] = found[len(self.src):]
            elif posixpath.dirname(found) == posixpath.dirname(new):
                changes[name] = posixpath.basename(found)
            else:
                raise ConfigError(f"{new} includes {name}, which the Arduino layout puts at {found}, out of its "
                                  "reach", fix="a library file cannot include the example's files")
        return changes

    def arduino_finds(self, includer: str, name: str, quoted: bool) -> str | None:
        """The file the Arduino build finds for ``name``: in the includer's folder (quoted), else below src/."""
        local = [posixpath.normpath(posixpath.join(posixpath.dirname(includer), name))] if quoted else []
        return next((p for p in [*local, self.src + name] if p in self.present), None)


def _debug_log(header: Path) -> dict[str, Any]:
    """How the TFLM tree declares DebugLog: with (format, va_list) since 2023, (const char*) before."""
    text = header.read_bytes() if header.is_file() else b""
    vsnprintf = _VSNPRINTF.search(text)
    return {"va_list": bool(_DEBUG_LOG_VA_LIST.search(text)), "vsnprintf": vsnprintf[1].decode() if vsnprintf else ""}
