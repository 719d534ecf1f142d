"""Unit tests of the model layer: target merging along ``extends``, the schema, source selection,
and the goal grammar.  No SCons run: these check the pieces the build is made of."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURE_TREE, REPO
from tflm_build.build.goals import GRAMMAR, goal_name, parse
from tflm_build.errors import ConfigError
from tflm_build.model.schema import Field, validate, with_defaults, str_list
from tflm_build.model.sources import ThirdParty, collect, load_rules, select_library, select_tests, specialize
from tflm_build.model.targets import TargetRegistry
from tflm_build.model.yamlio import load_yaml


def _targets(tmp_path: Path, files: dict[str, str]) -> TargetRegistry:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return TargetRegistry(tmp_path)


BASE = """\
description: base
abstract: true
arch: {default: a1, allowed: [a1, a2]}
toolchain: {prefix: pre-, install: get it}
flags: {common: [-fbase], defines: [BASE, DROPPED]}
arches:
  a2: {flags: {common: [-march=a2]}, vars: {cpu: two}}
glue: [base_glue.cc]
runner: {kind: command, command: [run, "{program}", "{cpu}"], tool: run}
vars: {cpu: one}
"""


def test_extends_appends_flags_and_glue_and_replaces_the_rest(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    registry = _targets(tmp_path, {"base": BASE, "child": """\
description: child
extends: base
flags: {common: [-fchild], remove_defines: [DROPPED]}
glue: [child_glue.cc]
runner: {kind: host}
goals: [library, binaries]
"""})
    child = registry.load("child", None)
    assert child.lineage == ("child", "base")
    assert child.arch == "a1" and child.allowed_arches == ("a1", "a2")
    assert child.flags("common") == ["-fbase", "-fchild"]  # lists under flags: extended
    assert [p.name for p in child.glue] == ["base_glue.cc", "child_glue.cc"]
    assert child.glue[0].parent == tmp_path  # relative to the file that declared it
    assert child.runner.kind == "host" and child.runner_argv() == (["{program}"], 300)  # replaced; default timeout
    assert child.goals == ("library", "binaries")
    assert child.toolchain.prefix == "pre-" and child.toolchain.family == "gcc"  # merged mapping; default
    assert child.toolchain.tool_names("gcc")["cxx"] == "g++" and child.toolchain.install_hint() == "get it"


def test_arch_flags_and_vars_apply_to_the_chosen_arch(tmp_path: Path) -> None:
    registry = _targets(tmp_path, {"base": BASE.replace("abstract: true\n", "")})
    one, two = registry.load("base", "a1"), registry.load("base", "a2")
    assert one.flags("common") == ["-fbase"] and two.flags("common") == ["-fbase", "-march=a2"]
    assert one.runner_argv()[0] == ["run", "{program}", "one"] and two.runner_argv()[0][2] == "two"
    with pytest.raises(ConfigError) as err:
        registry.load("base", "a3")
    assert "a1" in err.value.render() and "a2" in err.value.render()


def test_defaults_come_from_the_schema(tmp_path: Path) -> None:
    target = _targets(tmp_path, {"bare": "description: nothing else\n"}).load("bare", "x")
    assert (target.optimization.core, target.optimization.kernel, target.optimization.third_party_kernel) == \
        ("-Os", "-O2", "-O2")
    assert target.toolchain.family == "gcc" and target.goals == ("library",)
    assert target.kernel_dirs.allowed is None and target.kernel_dirs.default == ""
    assert target.runner.kind == "none" and target.runner_argv() == ([], 300)
    assert target.tflm_target_dir == "tensorflow/lite/micro/bare" and target.linker_script is None


def test_abstract_targets_and_cycles_are_refused(tmp_path: Path) -> None:
    registry = _targets(tmp_path, {"base": BASE, "a": "description: a\nextends: b\n",
                                   "b": "description: b\nextends: a\n"})
    assert "base" not in registry.names()
    with pytest.raises(ConfigError, match="TARGET"):
        registry.load("base", None)
    with pytest.raises(ConfigError) as err:
        registry.load("a", None)
    assert "'extends' cycle" in err.value.message and err.value.line == 2


def test_shipped_targets_load_with_every_arch() -> None:
    registry = TargetRegistry(REPO / "targets")
    for name in registry.names():
        for arch in registry.load(name, None).allowed_arches or (None,):
            target = registry.load(name, arch)
            assert target.description and target.toolchain.family in ("gcc", "clang")
            for path in (*target.glue, *target.startup, *([target.linker_script] if target.linker_script else [])):
                assert path.is_file(), (name, arch, path)


def test_schema_names_file_line_and_key_and_fills_defaults(tmp_path: Path) -> None:
    schema = {"name": Field(str, required=True), "size": Field(int, default=3), "tags": str_list(),
              "inner": Field(dict, schema={"mode": Field(str, choices=("fast", "slow"), default="slow")})}
    path = tmp_path / "x.yaml"
    path.write_text("name: n\ninner:\n  mode: quick\n")
    with pytest.raises(ConfigError) as err:
        validate(load_yaml(path), schema)
    assert (err.value.file, err.value.line, err.value.key) == (path, 3, "inner.mode")
    assert "did you mean 'slow'?" in err.value.render() or "fast" in err.value.render()
    path.write_text("name: n\nsise: 4\n")
    with pytest.raises(ConfigError) as err:
        validate(load_yaml(path), schema)
    assert err.value.line == 2 and "did you mean 'size'?" in err.value.render()
    path.write_text("name: n\n")
    data = load_yaml(path)
    validate(data, schema)
    assert with_defaults(data, schema) == {"name": "n", "size": 3, "tags": (), "inner": {"mode": "slow"}}


def test_source_selection_on_the_fixture_tree() -> None:
    rules = load_rules(REPO / "sources" / "tflm.yaml")
    library = select_library(rules, FIXTURE_TREE, build_type="default", target_dir="tensorflow/lite/micro/none",
                             glue=[], kernel_dir=None, co_processor=None, extra_headers=[], third_party=ThirdParty())
    assert "tensorflow/lite/micro/micro_interpreter.cc" in library.core
    assert not any(f.endswith("_test.cc") for f in library.core + library.kernels)
    assert "tensorflow/lite/micro/kernels/add.cc" in library.kernels
    optimized = select_library(rules, FIXTURE_TREE, build_type="default", target_dir="x", glue=[],
                               kernel_dir="cmsis_nn", co_processor=None, extra_headers=[], third_party=ThirdParty())
    assert "tensorflow/lite/micro/kernels/cmsis_nn/add.cc" in optimized.kernels  # replaced file by file
    assert "tensorflow/lite/micro/kernels/add.cc" not in optimized.kernels
    assert len(optimized.kernels) == len(library.kernels)
    names = [t.name for t in select_tests(rules, FIXTURE_TREE, "default", {})]
    assert "kernel_add_test" in names
    assert "kernel_add_test" not in [t.name for t in select_tests(rules, FIXTURE_TREE, "default",
                                                                   {"kernel_add_test": "why"})]


def test_collect_and_specialize_rules(tmp_path: Path) -> None:
    for rel in ("a/x.cc", "a/x_test.cc", "a/only_debug.cc", "a/b/y.cc", "special/x.cc"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    group = {"files": ["a/*.cc"], "trees": [{"dir": "a", "ext": [".cc"], "prune": ["a/b"]}],
             "exclude": ["*_test.cc"], "exclude_unless": {"debug": ["a/only_debug.cc"]}}
    assert collect(tmp_path, group, "default") == ["a/x.cc"]
    assert collect(tmp_path, group, "debug") == ["a/only_debug.cc", "a/x.cc"]
    assert specialize(["a/x.cc", "a/b/y.cc"], tmp_path, "special") == ["special/x.cc", "a/b/y.cc"]


@pytest.mark.parametrize("goal, family, subject, kind", [
    ("microlite", "library", "", ""), ("test", "all_tests", "", ""), ("build", "all_programs", "", ""),
    ("hello_world", "program", "hello_world", ""), ("hello_world_bin", "bin", "hello_world", ""),
    ("run_hello_world", "run", "hello_world", ""), ("test_kernel_add_test", "test", "kernel_add_test", ""),
    ("size_micro_speech", "size", "micro_speech", ""), ("flash_hello_world", "flash", "hello_world", ""),
    ("generate_micro_speech_make_project", "project", "micro_speech", "make"),
    ("list_hello_world_esp_files", "project_files", "hello_world", "esp"),
    ("list_hello_world_example_sources", "example_sources", "hello_world", ""),
    ("list_library_sources", "list", "", ""), ("config_info", "info", "", ""),
    ("gen/linux/obj/a.o", "file", "", ""),
])
def test_goal_grammar_parses_and_writes_each_family(goal: str, family: str, subject: str, kind: str) -> None:
    parsed = parse(goal)
    assert (parsed.family, parsed.subject, parsed.kind) == (family, subject, kind)
    if subject and family in {f for f, *_ in GRAMMAR}:
        assert goal_name(family, subject, kind) == goal
