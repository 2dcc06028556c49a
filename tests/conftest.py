"""Shared fixtures: one local SparkSession for the whole test session, temp warehouses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def ingest_submit_command(raw: Path, warehouse_dir: str, run_id: str) -> list[str]:
    """``spark-submit jobs/ingest.py`` as a data engineer would run it, on a test warehouse."""
    return [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        "local[2]",
        str(REPO / "jobs" / "ingest.py"),
        "--conf",
        str(REPO / "conf" / "local.yaml"),
        "--run-id",
        run_id,
        "--set",
        f"input.dir={raw}",
        "--set",
        f"warehouse.dir={warehouse_dir}",
        "--set",
        "spark.shuffle_partitions=2",
        "--set",
        "ingest.max_bad_fraction=0.05",
        "--set",
        "spark.extra={'spark.ui.enabled': 'false'}",
    ]


def make_config(tmp_root: Path, *overrides: str):
    """The local config pointed at a temp warehouse, sized for tests."""
    from recsys import config

    return config.load(
        str(REPO / "conf" / "local.yaml"),
        [
            f"warehouse.dir={tmp_root / 'warehouse'}",
            f"spark.checkpoint_dir={tmp_root / 'checkpoints'}",
            "spark.shuffle_partitions=2",
            # tiny data plants ~5 bad lines in ~300 lyric lines: above the 1% production limit
            "ingest.max_bad_fraction=0.05",
            "spark.extra={'spark.ui.enabled': 'false', 'spark.default.parallelism': '2'}",
            *overrides,
        ],
    )


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
    from recsys import sample_data

    out = tmp_path_factory.mktemp("tiny_raw")
    planted = sample_data.generate(out, size="tiny", seed=7)
    return out, planted


@pytest.fixture(scope="session")
def tiny_pipeline(spark, tiny_raw, tmp_path_factory):
    """Every pipeline step run once on the tiny data: (cfg, run_id, step summaries, planted).

    Publishing here does not require beating popularity: on ~50 held-out tiny users that
    comparison is noise (tests/test_small_data.py makes it on the small data).
    """
    from recsys.pipeline import run_steps

    raw, planted = tiny_raw
    cfg = make_config(
        tmp_path_factory.mktemp("tiny_pipeline"),
        f"input.dir={raw}",
        "evaluation.alpha_sweep=[0.0, 1.0]",
        "publish.require_beat_popularity=false",
    )
    results = run_steps(spark, cfg, "tiny", log=lambda line: None)
    return cfg, "tiny", results, planted
