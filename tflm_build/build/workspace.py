"""A workspace: a folder of one's own, marked by ``tflm-build.yaml`` (found by walking up, as west
and pio look), holding apps, target and example folders, default variables and dependency
overrides.  Outputs go below it (``gen/``, ``third_party/downloads/``), never into the
installed package.

```yaml
apps: [hello_world/hello_world.yaml]   # app YAMLs, in the examples' format
targets: [targets]                     # folders of target YAMLs (they may extend shipped targets)
examples: []                           # folders of example YAMLs
variables: {TARGET: linux}             # defaults; the command line wins
dependencies: {flatbuffers: ../flatbuffers}   # local trees instead of the pinned downloads
replaces: []                           # shipped targets replaced on purpose by one of the same name
```
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import ConfigError, closest
from ..fetch.pins import TFLM
from ..model.examples import ExampleRegistry
from ..model.schema import Field, Schema, str_list, validate, with_defaults
from ..model.targets import TargetRegistry
from ..model.yamlio import LocDict, load_yaml
from ..resources import EXAMPLES, TARGETS, THIRD_PARTY, WORKSPACE_FILE, find_workspace
from .variables import VARIABLES

SCHEMA: Schema = {
    "apps": str_list("app YAML files (the examples' format), relative to this file"),
    "targets": str_list("folders of target YAML files, relative to this file"),
    "examples": str_list("folders of example YAML files, relative to this file"),
    "variables": Field(dict, values=str, default={}, doc="default build variables (TARGET, TARGET_ARCH, ...)"),
    "dependencies": Field(dict, values=str, default={}, doc="dependency name -> local tree (its <NAME>_DIR)"),
    "replaces": str_list("shipped targets that a workspace target of the same name replaces on purpose"),
}
# Variables a workspace may not default: where outputs go is the workspace's own business.
_NOT_DEFAULTS = {"GEN_DIR"}


@dataclass(frozen=True)
class Workspace:
    root: Path
    file: Path
    apps: tuple[Path, ...]
    target_dirs: tuple[Path, ...]
    example_dirs: tuple[Path, ...]
    variables: Mapping[str, str]
    dependencies: Mapping[str, Path]
    replaces: tuple[str, ...]

    def arguments(self) -> dict[str, str]:
        """The build variables the workspace sets: its defaults and one <NAME>_DIR per override."""
        dirs = {("TFLM_ROOT" if name == TFLM else f"{name.upper()}_DIR"): str(path)
                for name, path in self.dependencies.items()}
        return {**self.variables, **dirs}


def load_workspace(root: Path) -> Workspace:
    """Read and check ``<root>/tflm-build.yaml``; every error names the file, line and key."""
    path = root / WORKSPACE_FILE
    raw = load_yaml(path)
    if raw is None:
        raw = LocDict()
        raw.file = path
    validate(raw, SCHEMA)
    data = with_defaults(raw, SCHEMA)

    def folder_list(key: str, want_dir: bool) -> tuple[Path, ...]:
        found = []
        for item in data[key]:
            full = (root / item).resolve()
            if not (full.is_dir() if want_dir else full.is_file()):
                raise ConfigError(f"{key}: '{item}' is not {'a folder' if want_dir else 'a file'}", file=path,
                                  line=raw.line_of(key), key=key,
                                  fix=f"create it, or remove it from '{key}:' (paths are relative to {path.name})")
            found.append(full)
        return tuple(found)

    known = {v.name for v in VARIABLES} - _NOT_DEFAULTS
    variables: LocDict = raw.get("variables") or LocDict()
    for name in variables:
        if name not in known:
            near = closest(name, known)
            raise ConfigError(f"unknown variable {name}", file=path, line=variables.line_of(name),
                              key=f"variables.{name}", choices=sorted(known),
                              fix=f"did you mean {near}?" if near else "remove it; 'scons -h' lists the variables")
    pins = sorted(p.stem for p in THIRD_PARTY.glob("*.yaml"))
    overrides: LocDict = raw.get("dependencies") or LocDict()
    dependencies = {}
    for name, folder in overrides.items():
        if name not in pins:
            near = closest(name, pins)
            raise ConfigError(f"unknown dependency {name}", file=path, line=overrides.line_of(name),
                              key=f"dependencies.{name}", choices=pins,
                              fix=f"did you mean {near}?" if near else "name one of the pinned dependencies")
        dependencies[name] = (root / folder).resolve()
    return Workspace(root=root, file=path, apps=folder_list("apps", False), target_dirs=folder_list("targets", True),
                     example_dirs=folder_list("examples", True), variables=dict(data["variables"]),
                     dependencies=dependencies, replaces=tuple(data["replaces"]))


def current_workspace(cwd: Path) -> Workspace | None:
    """The workspace ``cwd`` is in, loaded and checked, or None."""
    root = find_workspace(cwd)
    return load_workspace(root) if root is not None else None


def registries(workspace: Workspace | None, app: Path | None = None) -> tuple[TargetRegistry, ExampleRegistry]:
    """The targets and examples a build sees: the shipped ones and the workspace's (which win)."""
    if workspace is None:
        return TargetRegistry(TARGETS), ExampleRegistry(EXAMPLES, app)
    return (TargetRegistry(TARGETS, workspace.target_dirs, workspace.replaces),
            ExampleRegistry(EXAMPLES, app, workspace.example_dirs, workspace.apps))
