"""The one hold-out splitter: tuning, the blend fit and the evaluation all hide plays with it."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import EvaluationError
from recsys.evaluation.checks import check_columns, check_fraction

_N_SONGS = "n_songs"
_N_HIDDEN = "n_hidden"
_HIDDEN = "hidden"


def _unit_hash(*cols: Column) -> Column:
    """A deterministic uniform number in [0, 1) from the 53 high bits of xxhash64."""
    return F.shiftrightunsigned(F.xxhash64(*cols), 11).cast("double") / float(1 << 53)


def holdout_split(
    interactions: DataFrame,
    user_fraction: float,
    play_fraction: float,
    min_user_songs: int,
    seed: int,
    *,
    exclude_users: DataFrame | None = None,
    user_col: str = S.USER,
    item_col: str = S.SONG,
) -> tuple[DataFrame, DataFrame]:
    """Hide a share of the songs of a share of the users: ``(train, test)``.

    A user with at least ``min_user_songs`` distinct songs is a held-out user when
    ``hash(user, seed)`` falls below ``user_fraction`` (so about that share of the eligible
    users); such a user hides ``round(play_fraction * n_songs)`` songs, at least 1 and at most
    ``n_songs - 1``, chosen by the order of ``hash(user, song, seed)``. Everyone else keeps all
    plays in train. The result depends only on the data and the seed, not on partitioning.
    Both frames keep the input's columns and are persisted: ``unpersist`` them when done.
    ``exclude_users`` (a frame with ``user_col``) are never held out: a validation split of a
    training split leaves the evaluation's users out of it.
    """
    check_columns(interactions, "interactions", user_col, item_col)
    check_fraction("user_fraction", user_fraction)
    check_fraction("play_fraction", play_fraction)
    if isinstance(min_user_songs, bool) or not isinstance(min_user_songs, int):
        raise EvaluationError(f"min_user_songs: expected an integer, got {min_user_songs!r}")
    if min_user_songs < 2:
        raise EvaluationError(
            f"min_user_songs: {min_user_songs} leaves no song in train; it must be at least 2"
        )
    columns = interactions.columns
    seed_col = F.lit(int(seed)).cast("long")
    n_songs = F.col(_N_SONGS)
    n_hidden = F.least(
        F.greatest(F.round(F.lit(float(play_fraction)) * n_songs), F.lit(1.0)), n_songs - 1
    ).cast("int")
    held_out_users = (
        interactions.groupBy(user_col)
        .agg(F.count_distinct(item_col).alias(_N_SONGS))
        .filter(n_songs >= min_user_songs)
        .filter(_unit_hash(F.col(user_col), seed_col) < float(user_fraction))
        .select(user_col, n_hidden.alias(_N_HIDDEN))
    )
    if exclude_users is not None:
        held_out_users = held_out_users.join(
            exclude_users.select(user_col).distinct(), user_col, "left_anti"
        )
    rows = interactions.join(held_out_users, user_col, "left")
    # dense_rank: duplicate (user, song) rows, if any, travel together.
    order = Window.partitionBy(user_col).orderBy(
        F.xxhash64(F.col(user_col), F.col(item_col), seed_col), F.col(item_col)
    )
    held_out_rows = rows.filter(F.col(_N_HIDDEN).isNotNull()).withColumn(
        _HIDDEN, F.dense_rank().over(order) <= F.col(_N_HIDDEN)
    )
    kept_rows = rows.filter(F.col(_N_HIDDEN).isNull()).withColumn(_HIDDEN, F.lit(False))
    flagged = held_out_rows.unionByName(kept_rows)
    train = flagged.filter(~F.col(_HIDDEN)).select(*columns)
    test = flagged.filter(F.col(_HIDDEN)).select(*columns)
    return train.persist(StorageLevel.MEMORY_AND_DISK), test.persist(StorageLevel.MEMORY_AND_DISK)
