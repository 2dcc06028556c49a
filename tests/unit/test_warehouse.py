import pytest
from chispa import assert_df_equality

from recsys import schemas
from recsys.errors import WarehouseError
from recsys.storage.warehouse import Warehouse


def test_table_roundtrip_and_completeness(spark, tmp_path):
    wh = Warehouse(str(tmp_path / "wh"))
    df = spark.createDataFrame([(1, 2, 3), (4, 5, 6)], schemas.INTERACTIONS_SCHEMA)
    wh.write_table(df, "r1", schemas.INTERACTIONS)
    assert wh.has_table("r1", schemas.INTERACTIONS)
    assert_df_equality(
        wh.read_table(spark, "r1", schemas.INTERACTIONS),
        df,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    # a re-run replaces the table whole
    wh.write_table(df.limit(1), "r1", schemas.INTERACTIONS)
    assert wh.read_table(spark, "r1", schemas.INTERACTIONS).count() == 1
    # a table without its commit marker is not taken for complete
    (tmp_path / "wh" / "runs" / "r1" / schemas.INTERACTIONS / "_SUCCESS").unlink()
    with pytest.raises(WarehouseError, match="incomplete"):
        wh.read_table(spark, "r1", schemas.INTERACTIONS)
    with pytest.raises(WarehouseError, match="missing"):
        wh.read_table(spark, "r1", schemas.SONGS)


def test_latest_pointer_and_docs(tmp_path):
    wh = Warehouse(str(tmp_path / "wh"))
    assert wh.latest_run_id() is None
    wh.write_json("r1", "report.json", {"a": 1})
    assert wh.read_json("r1", "report.json") == {"a": 1}
    wh.set_latest("r1")
    assert wh.latest_run_id() == "r1"
    assert wh.list_runs() == ["r1"]
    with pytest.raises(WarehouseError, match="run id"):
        wh.run_uri("../escape")
    with pytest.raises(WarehouseError, match="not found"):
        wh.read_json("r2", "report.json")
