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


def _files_holding(root, user):
    """The Parquet files of a table whose user_idx statistics admit ``user``."""
    import pyarrow.parquet as pq

    found = 0
    for path in root.glob("part-*.parquet"):
        meta = pq.ParquetFile(path).metadata
        col = meta.schema.names.index(schemas.USER)
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(col).statistics
            if stats.min <= user <= stats.max:
                found += 1
                break
    return found


def test_lookup_tables_are_clustered_by_their_key(spark, tmp_path):
    """A viewer lookup by user reads one file of interactions, not every file."""
    from pyspark.sql import functions as F

    wh = Warehouse(str(tmp_path / "wh"))
    plays = (
        spark.range(4000)
        .select(
            (F.col("id") % 500).cast("int").alias(schemas.USER),
            (F.col("id") % 97).cast("int").alias(schemas.SONG),
            F.lit(1).alias(schemas.PLAYS),
        )
        .repartition(4)  # every partition holds every user
    )
    # on data this small AQE would merge the range partitions into one file
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    try:
        wh.write_table(plays, "r1", schemas.INTERACTIONS)
        wh.write_table(plays, "r1", "unclustered_plays")  # not a lookup table
    finally:
        spark.conf.unset("spark.sql.adaptive.coalescePartitions.enabled")
    clustered = tmp_path / "wh" / "runs" / "r1" / schemas.INTERACTIONS
    assert len(list(clustered.glob("part-*.parquet"))) >= 2
    assert _files_holding(clustered, 123) == 1
    unclustered = tmp_path / "wh" / "runs" / "r1" / "unclustered_plays"
    assert _files_holding(unclustered, 123) == len(list(unclustered.glob("part-*.parquet")))
    # the rows are all there, and a pushed-down lookup finds the user's
    rows = wh.read_table_arrow("r1", schemas.INTERACTIONS, filters=[(schemas.USER, "==", 123)])
    assert len(rows) == 8 and wh.read_table(spark, "r1", schemas.INTERACTIONS).count() == 4000


def test_decorate_adds_columns_after_the_clustering_shuffle(spark, tmp_path):
    """What ``decorate`` adds (a name by broadcast join) never travels in the shuffle that
    clusters the table, and the table is clustered and complete as without it."""
    from pyspark.sql import functions as F

    from recsys.steps import stagestats

    wh = Warehouse(str(tmp_path / "wh"))
    plays = spark.range(4000).select(
        (F.col("id") % 500).cast("int").alias(schemas.USER),
        (F.col("id") % 97).cast("int").alias(schemas.SONG),
    )
    hashes = [F.sha2(F.concat(F.col("id").cast("string"), F.lit(f"/{i}")), 512) for i in range(16)]
    names = spark.range(97).select(  # 2,048 hex characters that do not compress
        F.col("id").cast("int").alias(schemas.SONG), F.concat(*hashes).alias("name")
    )

    def named(df):
        return df.join(F.broadcast(names), schemas.SONG, "left")

    shuffled = {}
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    try:
        for label, frame, decorate in (("before", named(plays), None), ("after", plays, named)):
            mark = stagestats.mark(spark)
            wh.write_table(frame, label, schemas.INTERACTIONS, decorate=decorate)
            shuffled[label] = stagestats.figures_since(spark, mark)["shuffle_write_bytes"]
    finally:
        spark.conf.unset("spark.sql.adaptive.coalescePartitions.enabled")
    # 4,000 names of 2 KB shuffled before (8 MB); none after (the ids: a few tens of KB)
    assert shuffled["after"] * 20 < shuffled["before"]
    after = wh.read_table(spark, "after", schemas.INTERACTIONS)
    assert after.where(F.length("name") == 2048).count() == 4000
    assert _files_holding(tmp_path / "wh" / "runs" / "after" / schemas.INTERACTIONS, 123) == 1


def test_a_ranged_frame_is_written_clustered_without_a_shuffle(spark, tmp_path):
    """``ranged=True``: rows already range-partitioned by the key are only sorted within their
    partitions, and the table is as clustered as one the write partitions itself."""
    from pyspark.sql import functions as F

    from recsys.steps import stagestats

    wh = Warehouse(str(tmp_path / "wh"))
    users = spark.range(500).select(F.col("id").cast("int").alias(schemas.USER))
    ranged = users.repartitionByRange(4, schemas.USER).persist()
    try:
        ranged.count()
        plays = ranged.select(  # narrow: eight songs per user, rows stay in their partition
            schemas.USER,
            F.explode(F.sequence(F.lit(0), F.lit(7))).alias(schemas.SONG),
        ).withColumn(schemas.PLAYS, F.lit(1))
        mark = stagestats.mark(spark)
        wh.write_table(plays, "r1", schemas.INTERACTIONS, ranged=True)
        figures = stagestats.figures_since(spark, mark)
    finally:
        ranged.unpersist()
    assert figures["shuffle_write_bytes"] == 0
    root = tmp_path / "wh" / "runs" / "r1" / schemas.INTERACTIONS
    assert len(list(root.glob("part-*.parquet"))) == 4
    assert _files_holding(root, 123) == 1
    assert wh.read_table(spark, "r1", schemas.INTERACTIONS).count() == 4000


def test_step_figures_name_each_query_by_the_table_it_wrote(spark, tmp_path):
    """A step's queries are named by the warehouse table they wrote (read from the root of
    each plan graph), and a query that wrote nothing by its call site."""
    from pyspark.sql import functions as F

    from recsys.steps import stagestats

    wh = Warehouse(str(tmp_path / "wh"))
    plays = spark.range(3000).select(
        (F.col("id") % 300).cast("int").alias(schemas.USER),
        (F.col("id") % 71).cast("int").alias(schemas.SONG),
        F.lit(1).alias(schemas.PLAYS),
    )
    mark = stagestats.mark(spark)
    wh.write_table(plays, "r1", schemas.INTERACTIONS)
    assert plays.groupBy(schemas.SONG).count().count() == 71  # a shuffle, no write
    queries = stagestats.figures_since(spark, mark)["queries"]
    named = {q["what"] for q in queries}
    assert schemas.INTERACTIONS in named
    assert len(named) == 2 and all(q["shuffle_write_bytes"] > 0 for q in queries)
    assert all(q["seconds"] >= 0 for q in queries)
    assert not any("/runs/" in what for what in named)


def test_a_step_is_charged_only_with_what_it_left_cached(spark):
    """``cached_after`` counts what was cached during the step, not what its caller holds (a
    caller's cache once made the pipeline's release check depend on the test order)."""
    from recsys.steps import stagestats

    held_by_caller = spark.range(10).persist()
    held_by_caller.count()
    try:
        held = stagestats.persisted(spark)
        mark = stagestats.mark(spark)
        assert stagestats.figures_since(spark, mark, held)["cached_after"] == 0
        left = spark.range(20).persist()
        left.count()
        try:
            assert stagestats.figures_since(spark, mark, held)["cached_after"] == 1
            assert stagestats.cached(spark) == len(held) + 1  # everything, with no baseline
        finally:
            left.unpersist()
        assert stagestats.figures_since(spark, mark, held)["cached_after"] == 0
    finally:
        held_by_caller.unpersist()
