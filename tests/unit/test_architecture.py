"""The layout's rules, read from the source (docs/architecture.md says why each exists).

Each test names the module and line that breaks a rule, so a change that breaks one says where.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

RUNTIME = REPO / "recsys"
# The library: pure transformations of DataFrames and plain values. No storage, no steps.
LIBRARY = ("inputs", "features", "models", "similarity", "evaluation")
LIBRARY_MODULES = ("columns", "names", "schemas", "errors")
# Who may touch storage: the steps, the edges that start a job or the viewer, and the config
# loader (a config may be an s3:// object).
STORAGE_USERS = (
    "recsys.steps",
    "recsys.session",
    "recsys.cli",
    "recsys.config.validate",
    "recsys.emr",
    "recsys.storage",
    "streamlit_app.loaders",
)
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def modules(root: Path) -> list[tuple[str, Path]]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out.append((name, path))
    return out


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module ``path`` imports, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative import
                base = ".".join(module.split(".")[: -node.level] + [node.module])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def is_library(module: str) -> bool:
    parts = module.split(".")
    return len(parts) > 1 and parts[0] == "recsys" and parts[1] in (*LIBRARY, *LIBRARY_MODULES)


def test_no_runtime_module_is_over_500_lines():
    long = [
        f"{path.relative_to(REPO)}: {n} lines"
        for _, path in modules(RUNTIME)
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def test_no_runtime_function_is_over_80_lines():
    long = []
    for _, path in modules(RUNTIME):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {n} lines")
    assert long == []


def test_the_library_never_touches_storage_steps_or_sessions():
    banned = ("recsys.storage", "recsys.steps", "recsys.session", "recsys.cli", "sampledata")
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {target}"
        for module, path in modules(RUNTIME)
        if is_library(module)
        for line, target in imports(path, module)
        if target.startswith(banned)
    ]
    assert bad == []


def test_storage_is_imported_only_by_steps_edges_and_the_viewers_loaders():
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {target}"
        for root in (RUNTIME, REPO / "streamlit_app")
        for module, path in modules(root)
        if not module.startswith(STORAGE_USERS)
        for line, target in imports(path, module)
        if target.startswith("recsys.storage")
    ]
    assert bad == []


def test_only_the_session_module_builds_a_spark_session():
    builders = [
        f"{path.relative_to(REPO)}"
        for module, path in modules(RUNTIME)
        if "SparkSession.builder" in path.read_text() and module != "recsys.session"
    ]
    assert builders == []


def test_the_runtime_package_never_imports_the_sample_data_generator_at_import_time():
    # recsys.cli imports it inside the sample-data command only: the cluster has no sampledata
    bad = []
    for _module, path in modules(RUNTIME):
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.startswith("sampledata") for n in names):
                    bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert bad == []


BLOCK_PYSPARK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("pyspark", "py4j"):
            raise ImportError(f"{name} is blocked: the viewer must work without it")
sys.meta_path.insert(0, Block())
import streamlit_app.views, streamlit_app.loaders, recsys.models.blend, recsys.names
print("ok")
"""


@pytest.mark.parametrize("probe", [BLOCK_PYSPARK])
def test_the_viewer_imports_with_pyspark_absent(probe):
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
