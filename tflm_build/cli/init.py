"""``tflm-build init [--example NAME] FOLDER``: a workspace with an app copied from an example.

The app keeps the example's files at their TFLM paths (so its ``#include`` lines and its
generated model data keep their names) next to an app YAML with ``root: here``; the
workspace file names it, and an empty ``targets/`` folder waits for the user's boards.
Everything is written into a temporary folder beside FOLDER and renamed at the end:
nothing is half-written.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import yaml

from ..build.dependencies import make_fetcher
from ..build.variables import parse
from ..errors import ConfigError
from ..fetch.pins import TFLM
from ..files import write_atomic
from ..model.examples import Example, ExampleRegistry
from ..model.yamlio import load_yaml
from ..resources import EXAMPLES, WORKSPACE_FILE, dependency_variables

WORKSPACE_TEXT = """\
# tflm-build workspace: `tflm-build build|run|test|generate ...` anywhere below this folder
# builds with these settings; outputs go to gen/ and third_party/downloads/ here.
apps: [{app}]            # app YAMLs (the examples' format)
targets: [targets]       # your own targets (a YAML may `extends:` a shipped one)
examples: []             # folders of more example YAMLs
variables: {{}}            # default variables, e.g. {{TARGET: cortex_m_qemu}}; the command line wins
dependencies: {{}}         # local trees instead of pinned downloads, e.g. {{flatbuffers: ../flatbuffers}}
"""
TARGETS_README = """\
# Your targets

A `<name>.yaml` here is a target like the shipped ones (`tflm-build targets` lists them);
build with `TARGET=<name>`. It may build on a shipped target, e.g. a board on QEMU's machines:

```yaml
description: My board, run on QEMU's mps2-an386 (Cortex-M4)
extends: cortex_m_qemu
arch: {default: cortex-m4, allowed: [cortex-m4]}
```

Glue sources, startup code and linker scripts sit next to the YAML and are named relative to it.
"""
GITIGNORE = "gen/\nthird_party/downloads/\n"


def init_command(folder: Path, example_name: str) -> int:
    """Write the workspace; exit 2 (nothing written) for a non-empty folder or an unknown example."""
    folder = folder.expanduser().resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} is not an empty folder", key="init FOLDER",
                          fix="give a new folder (it is created) or an empty one")
    example = ExampleRegistry(EXAMPLES).get(example_name)  # an unknown name: the valid ones
    stage = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.init"
    try:
        stage.mkdir(parents=True)
        base = example.base(_tflm_root(stage)) if example.base_kind == "tflm" else example.file.parent
        app_dir = stage / example.name
        _copy_app(example, base, app_dir)
        write_atomic(stage / WORKSPACE_FILE, WORKSPACE_TEXT.format(app=f"{example.name}/{example.name}.yaml"))
        write_atomic(stage / "targets" / "README.md", TARGETS_README)
        write_atomic(stage / ".gitignore", GITIGNORE)
        shutil.rmtree(stage / "third_party", ignore_errors=True)  # what fetching TFLM extracted: rebuilt on use
        if folder.exists():
            folder.rmdir()
        os.replace(stage, folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(f"tflm-build init: wrote {folder} with the app {example.name} (from the example {example.name})\n"
          f"  cd {folder} && tflm-build run {_runnable(example)}")
    return 0


def _tflm_root(stage: Path) -> Path:
    """The TFLM tree the example's files come from: TFLM_ROOT, else the pinned download."""
    config = parse({}, os.environ, dependency_variables)
    _, fetcher = make_fetcher(stage, config)
    return fetcher.ensure(TFLM)


def _copy_app(example: Example, base: Path, app_dir: Path) -> None:
    """The example's files at their paths below ``base``, and its YAML with ``root: here``."""
    data = dict(load_yaml(example.file))
    files = set(example.headers)
    for spec in example.program_specs.values():
        files.update(example.rel(s) for s in spec.sources)
        files.update(example.rel(i) for i in spec.generator_inputs or ())
        for over in spec.targets.values():
            files.update(example.rel(s) for s in (*over.sources, *over.generator_inputs))
    files.update(example.rel(i) for i in example.generator_inputs)
    for over in example.targets.values():
        files.update(example.rel(s) for s in (*over.sources, *over.generator_inputs))
    for rel in sorted(files):
        if (base / rel).is_file():
            (app_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / rel, app_dir / rel)
    data["root"] = "here"
    text = f"# Copied from the example {example.name} by tflm-build init; paths are below this folder.\n"
    write_atomic(app_dir / f"{example.name}.yaml", text + yaml.safe_dump(_plain(data), sort_keys=False))


def _plain(value: object) -> object:
    """LocDicts and lists as plain YAML-dumpable values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _runnable(example: Example) -> str:
    names = [n for n in example.program_specs if not n.endswith("_test")]
    return names[0] if names else next(iter(example.program_specs))
