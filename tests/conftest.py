"""Shared fixtures: one local SparkSession for the whole test session, temp warehouses.

``tests/unit`` holds tests of pure functions and inline DataFrames; ``tests/integration`` runs
steps, jobs and whole pipelines (marked ``integration`` automatically, see its conftest).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import REPO, SHARED_DATA, make_config  # noqa: F401 - re-exported

pytest_plugins = ["tests.viewer_fixtures"]


@pytest.fixture(scope="session")
def spark_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("spark")


@pytest.fixture(scope="session")
def spark(spark_tmp):
    """One local[2] session for every test; jobs under test reuse it via getOrCreate."""
    from recsys.session import build_session

    cfg = make_config(spark_tmp)
    session = build_session(cfg)
    yield session
    session.stop()


@pytest.fixture()
def cfg_factory(tmp_path):
    """Build a test config on a fresh warehouse: cfg_factory('input.dir=...', ...)."""

    def factory(*overrides: str):
        return make_config(tmp_path, *overrides)

    return factory


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data samples not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory):
    """Tiny generated raw data in the real formats, and what the generator planted."""
    import sampledata as sample_data

    out = tmp_path_factory.mktemp("tiny_raw")
    planted = sample_data.generate(out, size="tiny", seed=7)
    return out, planted


@pytest.fixture(scope="session")
def tiny_pipeline(spark, tiny_raw, tmp_path_factory):
    """Every pipeline step run once on the tiny data: (cfg, run_id, step summaries, planted).

    Publishing here does not require beating popularity: on ~50 held-out tiny users that
    comparison is noise (tests/test_small_data.py makes it on the small data).
    """
    from recsys.steps import run_steps

    raw, planted = tiny_raw
    cfg = make_config(
        tmp_path_factory.mktemp("tiny_pipeline"),
        f"input.dir={raw}",
        "evaluation.alpha_sweep=[0.0, 1.0]",
        "publish.require_beat_popularity=false",
    )
    results = run_steps(spark, cfg, "tiny", log=lambda line: None)
    return cfg, "tiny", results, planted
