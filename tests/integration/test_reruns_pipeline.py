"""Every step of the pipeline run twice for the same run id gives identical tables.

The first pass runs all STEPS on tiny generated data; the second runs them again over the
same run. Every table of the run must hold the same rows (no duplicates, no leftovers of the
first attempt), the folders the same number of files, and ``latest`` the same run. Slow (two
whole pipelines), so marked integration; some model knobs are turned down to keep it short.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.steps import STEPS, publish, run_steps
from recsys.storage.warehouse import Warehouse
from tests.support import make_config

from .test_reruns import files_per_folder, leftovers

pytestmark = pytest.mark.integration
RUN = "pipeline-rerun"
FAST = (
    "publish.require_beat_popularity=false",  # tiny data: the gate is not the point here
    "als.max_iter=4",
    "content.lda_max_iter=5",
    "evaluation.alpha_sweep=[0.5]",
    "neighbours.recall_sample=20",
)


def _has_floats(schema: T.StructType) -> bool:
    def floaty(dt: T.DataType) -> bool:
        if isinstance(dt, (T.FloatType, T.DoubleType)):
            return True
        if isinstance(dt, T.ArrayType):
            return floaty(dt.elementType)
        if isinstance(dt, T.StructType):
            return any(floaty(f.dataType) for f in dt.fields)
        return False

    return any(floaty(f.dataType) for f in schema.fields)


@pytest.fixture(scope="module")
def first_pass(spark, tiny_raw, tmp_path_factory):
    raw, _ = tiny_raw
    cfg = make_config(tmp_path_factory.mktemp("pipeline_rerun"), f"input.dir={raw}", *FAST)
    run_steps(spark, cfg, RUN, log=lambda _line: None)
    wh = Warehouse.from_config(cfg)
    run_dir = Path(wh.run_uri(RUN))
    tables = {
        t: wh.read_table(spark, RUN, t).localCheckpoint(eager=True)
        for t in publish.PUBLISHED_TABLES
    }
    return cfg, tables, files_per_folder(run_dir), wh.read_json(RUN, S.QUALITY_REPORT)


def test_every_step_twice_gives_identical_tables(spark, first_pass):
    cfg, before, files_before, report = first_pass
    wh = Warehouse.from_config(cfg)
    assert wh.latest_run_id() == RUN
    results = run_steps(spark, cfg, RUN, log=lambda _line: None)
    assert list(results) == [s.name for s in STEPS]
    for table, expected in before.items():
        got = wh.read_table(spark, RUN, table)
        assert got.count() == expected.count(), table  # nothing appended, nothing lost
        if _has_floats(expected.schema):
            # identical inputs and seeds: equal up to float noise (summation order)
            assert_approx_df_equality(
                got, expected, 1e-6, ignore_row_order=True, ignore_nullable=True
            )
        else:
            assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    run_dir = Path(wh.run_uri(RUN))
    assert leftovers(run_dir) == []
    assert files_per_folder(run_dir) == files_before
    assert wh.read_json(RUN, S.QUALITY_REPORT) == report
    assert wh.latest_run_id() == RUN
