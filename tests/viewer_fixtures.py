"""Fixtures of the viewer's tests: one published demo warehouse per session, AppTest helpers."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.viewer_data import add_history, write_demo_warehouse

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py")


@dataclass(frozen=True)
class DemoWarehouse:
    root: str
    frames: dict[str, dict[str, pd.DataFrame]]  # run id -> table name -> rows written


@pytest.fixture(scope="session")
def demo_warehouse(spark, tmp_path_factory) -> DemoWarehouse:
    root = tmp_path_factory.mktemp("viewer") / "warehouse"
    return DemoWarehouse(str(root), write_demo_warehouse(spark, str(root)))


@pytest.fixture(scope="session")
def history_warehouse(demo_warehouse, tmp_path_factory) -> Path:
    """The demo warehouse with a history: published, refused and stopped runs
    (tests.viewer_data.add_history)."""
    copy = tmp_path_factory.mktemp("history") / "warehouse"
    shutil.copytree(demo_warehouse.root, copy)
    add_history(str(copy))
    return copy


@pytest.fixture()
def warehouse_copy(demo_warehouse, tmp_path) -> Path:
    """A private copy of the demo warehouse that a test may damage."""
    copy = tmp_path / "warehouse"
    shutil.copytree(demo_warehouse.root, copy)
    return copy


@pytest.fixture(autouse=True)
def _fresh_caches():
    import streamlit as st

    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture()
def viewer(monkeypatch):
    """Start the viewer's app on a warehouse: viewer(root, page=..., user=...) -> AppTest."""
    from streamlit.testing.v1 import AppTest

    def start(root: str | None, **query: str):
        if root is None:
            monkeypatch.delenv("RECSYS_WAREHOUSE", raising=False)
        else:
            monkeypatch.setenv("RECSYS_WAREHOUSE", str(root))
        app = AppTest.from_file(APP, default_timeout=60)
        for name, value in query.items():
            app.query_params[name] = value
        return app.run()

    return start
