"""Shared fixtures: one local SparkSession for the whole test session, temp warehouses.

``tests/unit`` holds tests of pure functions and inline DataFrames; ``tests/integration`` runs
steps, jobs and whole pipelines (marked ``integration`` automatically, see its conftest).
"""

from __future__ import annotations

import shutil
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

    # The whole suite shares this JVM: 8g of heap (the laptop config's 4g ran the suite into
    # back-to-back garbage collection once the contract, blend and item-based tests joined it).
    cfg = make_config(spark_tmp, "spark.driver_memory=8g")
    session = build_session(cfg)
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def _release_spark_memory_after_each_module():
    """Drop what a test module cached (DataFrames, ALS's RDDs) once its fixtures are done."""
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:  # the module used no Spark
        return
    session.catalog.clearCache()
    for rdd in session.sparkContext._jsc.getPersistentRDDs().values():
        rdd.unpersist(False)
    from recsys.similarity.topn import release_broadcasts

    release_broadcasts()  # what tests that call the library directly left broadcast


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


TINY_RUN = "tiny"


def tiny_overrides(raw: Path) -> tuple[str, ...]:
    """The config overrides of ``tiny_pipeline`` (and of its copies) on the tiny raw data."""
    return (
        f"input.dir={raw}",
        "evaluation.alpha_sweep=[0.0, 1.0]",
        "publish.require_beat_popularity=false",
        # the tiny catalogue is far below neighbours.auto_exact_below: keep the LSH path
        # (what production catalogues take) in the pipeline under test
        "neighbours.method=lsh",
    )


@pytest.fixture(scope="session")
def tiny_pipeline(spark, tiny_raw, tmp_path_factory):
    """Every pipeline step run once on the tiny data: (cfg, run_id, step summaries, planted).

    Tests only read it; a test that re-runs or damages a run takes ``tiny_pipeline_copy``.
    Publishing here does not require beating popularity: on ~50 held-out tiny users that
    comparison is noise (tests/integration/test_small_data.py makes it on the small data).
    """
    from recsys.steps import run_steps

    raw, planted = tiny_raw
    cfg = make_config(tmp_path_factory.mktemp("tiny_pipeline"), *tiny_overrides(raw))
    results = run_steps(spark, cfg, TINY_RUN, log=lambda line: None)
    return cfg, TINY_RUN, results, planted


@pytest.fixture()
def tiny_pipeline_copy(tiny_pipeline, tiny_raw, tmp_path):
    """A private copy of ``tiny_pipeline``'s warehouse to re-run or damage: (cfg, run_id).

    The config is the tiny pipeline's own, pointed at the copy.
    """
    cfg, run_id, _, _ = tiny_pipeline
    raw, _ = tiny_raw
    shutil.copytree(cfg.warehouse.dir, tmp_path / "warehouse")
    return make_config(tmp_path, *tiny_overrides(raw)), run_id
