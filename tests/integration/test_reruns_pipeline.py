"""Every step of the pipeline run twice for the same run id gives identical tables.

The first pass is ``tiny_pipeline`` (all STEPS on tiny generated data); the second runs them
again over the same run, in a copy of its warehouse with the same config. Every published
table must hold the same rows (no duplicates, no leftovers of the first attempt), the folders
the same number of files, and ``latest`` the same run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.steps import STEPS, publish, run_steps
from recsys.storage.warehouse import Warehouse

from .test_reruns import files_per_folder, leftovers

pytestmark = pytest.mark.integration


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
def first_pass(spark, tiny_pipeline):
    """The tiny pipeline's published tables (held apart from the files), files and report."""
    cfg, run_id, _, _ = tiny_pipeline
    wh = Warehouse.from_config(cfg)
    tables = {
        t: wh.read_table(spark, run_id, t).localCheckpoint(eager=True)
        for t in publish.PUBLISHED_TABLES
    }
    run_dir = Path(wh.run_uri(run_id))
    return tables, files_per_folder(run_dir), wh.read_json(run_id, S.QUALITY_REPORT)


def test_every_step_twice_gives_identical_tables(spark, first_pass, tiny_pipeline_copy):
    cfg, run_id = tiny_pipeline_copy
    before, files_before, report = first_pass
    wh = Warehouse.from_config(cfg)
    assert wh.latest_run_id() == run_id
    results = run_steps(spark, cfg, run_id, log=lambda _line: None)
    assert list(results) == [s.name for s in STEPS]
    for table, expected in before.items():
        got = wh.read_table(spark, run_id, table)
        assert got.count() == expected.count(), table  # nothing appended, nothing lost
        if _has_floats(expected.schema):
            # identical inputs and seeds: equal up to float noise (summation order)
            assert_approx_df_equality(
                got, expected, 1e-6, ignore_row_order=True, ignore_nullable=True
            )
        else:
            assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    run_dir = Path(wh.run_uri(run_id))
    assert leftovers(run_dir) == []
    assert files_per_folder(run_dir) == files_before
    assert wh.read_json(run_id, S.QUALITY_REPORT) == report
    assert wh.latest_run_id() == run_id
