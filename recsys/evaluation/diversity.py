"""Intra-list diversity without shuffling vectors: each user's list against a broadcast matrix.

With unit vectors u_i and S their sum, sum_{i<j} cos(u_i, u_j) = (|S|^2 - n) / 2, so the mean
pairwise (1 - cos) of a list of n songs with vectors is 1 - (|S|^2 - n) / (n (n - 1)): O(K d)
a user, exact. Gathering each user's vectors by ``collect_list`` shuffled K vectors of d
doubles a user (at 2M triplets, 1.1 of evaluate's 1.5 GB). Here the unit vectors of the songs
in the lists (the evaluation's sample x depth at most, not the catalogue) are packed once and
shipped to the executors (:func:`recsys.similarity.ship.ship`: built there, never on the
driver, whose memory would otherwise grow with the songs listed); each user's list travels as
song ids only, and the sums run in numpy in the order and precision the Spark expression used
(:func:`recsys.columns.unit_array`, then the vectors summed in list order, the squares in
dimension order, all in double).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys.similarity.gather import gather_item_matrix
from recsys.similarity.ship import ship
from recsys.similarity.topn import destroy_broadcast

_K, _ILD, _LABEL = "_k", "_ild", "_label"
_SCHEMA = T.StructType(
    [T.StructField(_K, T.IntegerType(), False), T.StructField(_ILD, T.DoubleType(), False)]
)


def unit_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(units, ok)``: each row scaled to length 1 in double, as ``unit_array`` computes it
    (squares summed left to right from 0.0); ``ok`` false for an all-zero or NaN row."""
    matrix = matrix.astype(np.float64)
    sum_sq = np.zeros(matrix.shape[0], dtype=np.float64)
    for j in range(matrix.shape[1]):
        sum_sq += matrix[:, j] * matrix[:, j]
    ok = (sum_sq > 0) & ~np.isnan(sum_sq)
    units = np.zeros_like(matrix)
    units[ok] = matrix[ok] / np.sqrt(sum_sq[ok])[:, None]
    return units, ok


def listed_units(gathered: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, unit vectors)`` of the gathered ``(ids, matrix)`` rows that have a direction."""
    ids, matrix = gathered
    units, ok = unit_rows(matrix)
    return ids[ok], units[ok]


def list_diversity(
    positions: np.ndarray, vector: np.ndarray, units: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(ild, n)`` per row of ``positions``/``vector`` (b x L: positions ascending along a
    row, the row of ``units`` of each song or -1 where it has none), over positions <= k."""
    b = positions.shape[0]
    total = np.zeros((b, units.shape[1]), dtype=np.float64)
    n = np.zeros(b, dtype=np.float64)
    for j in range(positions.shape[1]):  # in list order, as the Spark sum
        take = (positions[:, j] <= k) & (vector[:, j] >= 0)
        total[take] += units[vector[take, j]]
        n += take
    squared = np.zeros(b, dtype=np.float64)
    for d in range(units.shape[1]):
        squared += total[:, d] * total[:, d]
    with np.errstate(invalid="ignore", divide="ignore"):
        ild = np.maximum(0.0, 1.0 - (squared - n) / (n * (n - 1.0)))
    return ild, n


def _dense(cells) -> np.ndarray:
    """A column of int arrays as a (rows x longest) matrix, padded with the largest int64."""
    lengths = np.fromiter((len(c) for c in cells), np.int64, len(cells))
    out = np.full((len(cells), int(lengths.max(initial=0))), np.iinfo(np.int64).max, np.int64)
    if lengths.sum():
        rows = np.repeat(np.arange(len(cells)), lengths)
        cols = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, cols] = np.concatenate([np.asarray(c, dtype=np.int64) for c in cells])
    return out


def _score(broadcast, ks: Sequence[int], label_col: str):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        ids, units = broadcast.value
        for pdf in batches:
            positions, songs = _dense(pdf["positions"]), _dense(pdf["songs"])
            vector = np.full(songs.shape, -1, dtype=np.int64)
            if ids.size:
                at = np.minimum(np.searchsorted(ids, songs), ids.size - 1)
                vector = np.where(ids[at] == songs, at, -1)
            labels = pdf[label_col].to_numpy()
            for k in ks:
                ild, n = list_diversity(positions, vector, units, k)
                keep = n >= 2
                if keep.any():
                    yield pd.DataFrame({label_col: labels[keep], _K: np.int32(k), _ILD: ild[keep]})

    return run


def diversity_from_top(
    top: DataFrame,
    item_vectors: DataFrame,
    ks: Sequence[int],
    user_col: str,
    item_col: str,
    vector_col: str,
    position_col: str,
) -> dict[int, float | None]:
    """``{k: mean diversity@k}`` (None where no user has two songs with vectors) of ``top``
    (``user, song, position``) with the songs' ``item_vectors``."""
    one = top.withColumn(_LABEL, F.lit(""))
    found = diversity_by_list(
        one, item_vectors, ks, _LABEL, user_col, item_col, vector_col, position_col
    )
    return found.get("", {k: None for k in ks})


def diversity_by_list(
    top: DataFrame,
    item_vectors: DataFrame,
    ks: Sequence[int],
    label_col: str,
    user_col: str,
    item_col: str,
    vector_col: str,
    position_col: str,
) -> dict[str, dict[int, float | None]]:
    """``{label: {k: mean diversity@k}}`` of each list of ``top`` (``label, user, song,
    position``): one broadcast of the listed songs' vectors and one pass for all lists."""
    spark = top.sparkSession
    listed = top.select(item_col).distinct()
    vectors = item_vectors.select(
        item_col, F.col(vector_col).cast("array<double>").alias("features")
    ).where(F.col("features").isNotNull() & (F.size("features") > 0))
    gathered = gather_item_matrix(
        vectors.join(listed, item_col, "left_semi"), item_col, dtype=np.float64
    )
    broadcast = ship(spark, [gathered], listed_units)
    schema = T.StructType([T.StructField(label_col, T.StringType(), False), *_SCHEMA.fields])
    try:
        item = F.struct(F.col(position_col).alias("position"), F.col(item_col).alias("song"))
        lists = top.groupBy(label_col, user_col).agg(
            F.sort_array(F.collect_list(item)).alias("items")
        )
        rows = (
            lists.select(
                label_col,
                F.transform("items", lambda x: x["position"]).alias("positions"),
                F.transform("items", lambda x: x["song"]).alias("songs"),
            )
            .mapInPandas(_score(broadcast, list(ks), label_col), schema)
            .groupBy(label_col, _K)
            .agg(F.avg(_ILD).alias("mean"))
            .collect()
        )
    finally:
        destroy_broadcast(broadcast)
    found: dict[str, dict[int, float]] = {}
    for r in rows:
        found.setdefault(r[label_col], {})[int(r[_K])] = float(r["mean"])
    return {label: {k: means.get(k) for k in ks} for label, means in found.items()}
