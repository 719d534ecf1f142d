"""The ``cmake`` project kind's module: TFLM as a CMake package (``tflm::tflm``).

A consumer project reuses the generated library by ``add_subdirectory`` or, after
``cmake --install``, by ``find_package(tflm)``.  Either way it must get what TFLM's
headers need and nothing it did not ask for, so the build's flags are sorted here
into usage requirements (the template turns them into CMake):

- the C++ standard becomes ``target_compile_features(cxx_std_NN)`` (NN from the
  build's ``-std=c++NN``): a consumer on a newer standard keeps it;
- flags that fix the ABI the library was compiled for (``-mcpu``, ``-mfloat-abi``,
  ``-mthumb``, ``-funsigned-char`` ...: kind.yaml ``public_flags``, by prefix) are
  PUBLIC: an object compiled without them cannot be linked with the library, or
  disagrees with it about ``char``;
- every other flag (warnings, ``-fno-rtti``, ``-fno-exceptions``, sections,
  ``-std=c17``) is PRIVATE: it is how TFLM compiles itself, not a rule for callers;
- preprocessor symbols stay PUBLIC, because TFLM's headers read them
  (``TF_LITE_STATIC_MEMORY`` changes ``TfLiteTensor``'s layout, ``NDEBUG`` and
  ``TF_LITE_STRIP_ERROR_STRINGS`` its logging macros, ``CMSIS_NN`` the kernels'
  declarations), except those only ``.cc`` files read (kind.yaml ``private_defines``).

The files keep the layout generate.py gave them; headers of the library (not the
example's) are installed below ``include/tflm/`` with the same relative paths.
"""
from __future__ import annotations

import posixpath
import re
from typing import Mapping, Sequence

from ..errors import ConfigError
from ..scons_tools.project_files import Entry
from .generate import ProjectBuilder
from .kinds import Arrangement

HEADERS = (".h", ".hpp", ".hh", ".inc")
_CXX_STD = re.compile(r"^-std=(?:c|gnu)\+\+(\d+)$")


def arrange(builder: ProjectBuilder, files: Mapping[str, Entry], roles: Mapping[str, Sequence[str]]) -> Arrangement:
    env, values = builder.build.env, builder.values
    public_prefixes = tuple(values["public_flags"].split())
    common = [str(f) for f in env["CCFLAGS"]]
    public = [f for f in common if f.startswith(public_prefixes)]
    standards = [int(m.group(1)) for m in map(_CXX_STD.match, (str(f) for f in env["CXXFLAGS"])) if m]
    if not standards:
        raise ConfigError("the build's C++ flags name no -std=c++NN; the cmake kind needs it for cxx_std_NN",
                          file=builder.build.target.file, key="flags.cxx", fix="add -std=c++17 to flags.cxx")
    app_dirs = tuple(posixpath.dirname(p) + "/" for p in (*roles["app"], *roles["startup"]))
    headers: dict[str, list[str]] = {}
    for dest in sorted(files):
        if dest.endswith(HEADERS) and not dest.startswith(app_dirs):
            headers.setdefault(posixpath.dirname(dest), []).append(dest)
    return Arrangement(dict(files), context={
        "cxx_std": standards[-1],
        "public_options": public,
        "private_options": [f for f in common if f not in public],
        "c_options": [str(f) for f in env["CFLAGS"]],
        "cxx_options": [str(f) for f in env["CXXFLAGS"] if not _CXX_STD.match(str(f))],
        "private_defines": values["private_defines"].split(),
        "headers": headers,
    })

