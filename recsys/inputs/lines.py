"""Raw lines: the four input names, the columns every line carries, and line numbering."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

TRIPLETS, TRACKS, MISMATCHES, LYRICS = "triplets", "tracks", "mismatches", "lyrics"

# A raw line: its input, its file, the start of its file split, an id that is consecutive
# within the split (monotonically_increasing_id) and the text.
LINES_SCHEMA = T.StructType(
    [
        T.StructField("input", T.StringType()),
        T.StructField("source", T.StringType()),
        T.StructField("_block", T.LongType()),
        T.StructField("_mid", T.LongType()),
        T.StructField("raw", T.StringType()),
    ]
)
LINE_COLS = [f.name for f in LINES_SCHEMA.fields]


def with_line_numbers(lines: DataFrame, rows: DataFrame) -> DataFrame:
    """Attach 1-based line numbers to ``rows`` (a subset of ``lines``).

    Within one file split the ids from ``monotonically_increasing_id`` are consecutive, so a
    row's line is the number of lines in earlier splits of its file plus its offset in its
    split. Only a split-sized table is aggregated and broadcast.
    """
    blocks = lines.groupBy("source", "_block").agg(
        F.count(F.lit(1)).alias("_n"), F.min("_mid").alias("_first")
    )
    earlier = (
        Window.partitionBy("source").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
    )
    blocks = blocks.withColumn("_before", F.coalesce(F.sum("_n").over(earlier), F.lit(0)))
    return (
        rows.join(F.broadcast(blocks.drop("_n")), ["source", "_block"])
        .withColumn("line", (F.col("_before") + F.col("_mid") - F.col("_first") + 1).cast("long"))
        .drop("_before", "_first")
    )
