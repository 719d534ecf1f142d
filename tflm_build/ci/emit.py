"""The workflow files ``tflm-build ci --emit github|gitlab`` writes: runners that install the tool and
call ``tflm-build ci --shard i/n``."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from ..errors import ConfigError, unknown_choice
from ..model.targets import TargetRegistry
from ..build.workspace import current_workspace, registries
from ..files import write_atomic
from .matrix import Matrix, load_matrix

GITHUB = """\
# Written by `tflm-build ci --emit github`; the matrix itself is {{ matrix }}.
name: tflm-build ci
on: [push, pull_request, workflow_dispatch]
jobs:
  ci:
    runs-on: ubuntu-24.04
    strategy:
      fail-fast: false
      matrix:
        shard: [{{ shards | join(', ') }}]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
{%- if packages %}
      - name: System packages
        run: sudo apt-get update && sudo apt-get install -y --no-install-recommends {{ packages | join(' ') }}
{%- endif %}
      - name: Caches (downloads and compiled objects)
        uses: actions/cache@v4
        with:
          path: .tflm-cache
          key: tflm-build-${{ '{{' }} matrix.shard {{ '}}' }}-${{ '{{' }} github.sha {{ '}}' }}
          restore-keys: tflm-build-${{ '{{' }} matrix.shard {{ '}}' }}-
      - name: Install tflm-build
        run: pip install {{ install | shquote }}
      - name: tflm-build ci shard ${{ '{{' }} matrix.shard {{ '}}' }}/{{ count }}
        run: tflm-build ci --matrix {{ matrix }} --shard ${{ '{{' }} matrix.shard {{ '}}' }}/{{ count }} --out ci-out
        env:
          TFLM_BUILD_CACHE: .tflm-cache/downloads
          TFLM_BUILD_CACHE_DIR: .tflm-cache/objects
      - if: always()
        run: cat ci-out/summary.md >> "$GITHUB_STEP_SUMMARY"
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: tflm-build-ci-${{ '{{' }} matrix.shard {{ '}}' }}
          path: ci-out/
"""

GITLAB = """\
# Written by `tflm-build ci --emit gitlab`; the matrix itself is {{ matrix }}.
tflm-build-ci:
  image: python:3.11-bookworm
  parallel: {{ count }}
  variables:
    TFLM_BUILD_CACHE: "$CI_PROJECT_DIR/.tflm-cache/downloads"
    TFLM_BUILD_CACHE_DIR: "$CI_PROJECT_DIR/.tflm-cache/objects"
  cache:
    key: tflm-build-$CI_NODE_INDEX
    paths: [.tflm-cache/]
  before_script:
{%- if packages %}
    - apt-get update && apt-get install -y --no-install-recommends {{ packages | join(' ') }}
{%- endif %}
    - pip install {{ install | shquote }}
  script:
    - tflm-build ci --matrix {{ matrix }} --shard ${CI_NODE_INDEX:-1}/${CI_NODE_TOTAL:-1} --out ci-out
  artifacts:
    when: always
    paths: [ci-out/]
    reports:
      junit: ci-out/junit.xml
"""

EMIT_DEFAULTS = {"github": Path(".github/workflows/tflm-build-ci.yml"), "gitlab": Path(".gitlab-ci.yml")}


def packages(matrix: Matrix, registry: TargetRegistry) -> list[str]:
    """Debian packages the matrix's targets name in their install hints ('apt-get install a b; ...')."""
    found: dict[str, None] = {}
    for name in sorted({c.target for c in matrix.cells}):
        target = registry.load(name, None)
        for hint in (target.toolchain.install, target.runner.install):
            match = re.search(r"apt-get install ([^;()]+)", hint or "")
            found.update(dict.fromkeys(match[1].split() if match else ()))
    if any(c.kinds and "generate" in c.actions for c in matrix.cells):
        found.update(dict.fromkeys(["make", "cmake"]))
    return list(found)


def emit(service: str, matrix_path: Path, count: int, output: Path | None, install: str) -> Path:
    """Write the workflow of ``service`` running ``count`` shards of the matrix, on runners that
    install tflm-build as a user does (``pip install <install>``: this version by default)."""
    import jinja2

    if service not in EMIT_DEFAULTS:
        raise unknown_choice("CI service for --emit", service, EMIT_DEFAULTS)
    if count < 1:
        raise ConfigError(f"--shards {count}: need at least one shard", key="--shards", fix="write --shards 1 or more")
    matrix = load_matrix(matrix_path)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["shquote"] = shlex.quote
    template = environment.from_string(GITHUB if service == "github" else GITLAB)
    try:
        shown = matrix_path.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = matrix_path
    registry = registries(current_workspace(matrix_path.resolve().parent))[0]
    text = template.render(matrix=shown, count=count, shards=list(range(1, count + 1)), install=install,
                           packages=packages(matrix, registry))
    path = output or EMIT_DEFAULTS[service]
    write_atomic(path, text)
    return path
