"""Helpers the unit and integration tests share (paths, the test config, spark-submit)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
