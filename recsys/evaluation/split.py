"""The one hold-out splitter: tuning, the blend fit and the evaluation all hide plays with it."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import EvaluationError
from recsys.evaluation.checks import check_columns, check_fraction

ROLE = "_role"  # which Role hid the user's plays (its index), null for a user who hid none
HIDDEN = "_hidden"  # the play is hidden
_KEY = "_key"
_RANK = "_rank"
_N_SONGS = "_n_songs"
_EXCLUDED = "_excluded"


@dataclass(frozen=True)
class Role:
    """Users whose ``hash(user, seed)`` falls below ``user_fraction`` hide ``play_fraction`` of
    their songs (when no earlier role took them)."""

    user_fraction: float
    play_fraction: float
    seed: int

    def check(self) -> None:
        check_fraction("user_fraction", self.user_fraction)
        check_fraction("play_fraction", self.play_fraction)


def _unit_hash(*cols: Column) -> Column:
    """A deterministic uniform number in [0, 1) from the 53 high bits of xxhash64."""
    return F.shiftrightunsigned(F.xxhash64(*cols), 11).cast("double") / float(1 << 53)


def _by_role(values: list[Column], role: Column) -> Column:
    """``values[role]`` (null where ``role`` is null)."""
    out = F.when(role == 0, values[0])
    for i, value in enumerate(values[1:], 1):
        out = out.when(role == i, value)
    return out


def flag_split(
    interactions: DataFrame,
    roles: list[Role],
    min_user_songs: int,
    *,
    exclude_users: DataFrame | None = None,
    user_col: str = S.USER,
    item_col: str = S.SONG,
) -> DataFrame:
    """``interactions`` with :data:`ROLE` and :data:`HIDDEN`: one shuffle by user, one sort.

    A user with at least ``min_user_songs`` distinct songs takes the first of ``roles`` whose
    ``hash(user, seed)`` falls below its ``user_fraction``; such a user hides
    ``round(play_fraction * n_songs)`` songs, at least 1 and at most ``n_songs - 1``, chosen by
    the order of ``hash(user, song, seed)`` (the role's seed). The result depends only on the
    data and the seeds, not on partitioning. ``exclude_users`` (a frame with ``user_col``) take
    no role. With one role this is the rule applied role by role: a later role's users are
    those the earlier ones left, split on what they kept (all their plays).
    """
    check_columns(interactions, "interactions", user_col, item_col)
    for role in roles:
        role.check()
    if isinstance(min_user_songs, bool) or not isinstance(min_user_songs, int):
        raise EvaluationError(f"min_user_songs: expected an integer, got {min_user_songs!r}")
    if min_user_songs < 2:
        raise EvaluationError(
            f"min_user_songs: {min_user_songs} leaves no song in train; it must be at least 2"
        )
    user, item = F.col(user_col), F.col(item_col)
    seeds = [F.lit(int(r.seed)).cast("long") for r in roles]
    chosen = F.when(_unit_hash(user, seeds[0]) < float(roles[0].user_fraction), 0)
    for i, (role, seed) in enumerate(zip(roles[1:], seeds[1:], strict=True), 1):
        chosen = chosen.when(_unit_hash(user, seed) < float(role.user_fraction), i)
    rows = interactions
    if exclude_users is not None:
        marks = exclude_users.select(user_col).distinct().withColumn(_EXCLUDED, F.lit(True))
        rows = rows.join(marks, user_col, "left")
        chosen = F.when(F.col(_EXCLUDED).isNull(), chosen)
    rows = rows.withColumn(ROLE, chosen.cast("int"))
    role = F.col(ROLE)
    rows = rows.withColumn(_KEY, _by_role([F.xxhash64(user, item, s) for s in seeds], role))
    # dense_rank: duplicate (user, song) rows, if any, travel together; its largest value is
    # the user's distinct songs. Both windows share the shuffle and the sort.
    ranked = rows.withColumn(
        _RANK, F.dense_rank().over(Window.partitionBy(user_col).orderBy(_KEY, item_col))
    ).withColumn(_N_SONGS, F.max(_RANK).over(Window.partitionBy(user_col)))
    n_songs = F.col(_N_SONGS)
    fraction = _by_role([F.lit(float(r.play_fraction)) for r in roles], role)
    n_hidden = F.least(F.greatest(F.round(fraction * n_songs), F.lit(1.0)), n_songs - 1)
    role = F.when(n_songs >= min_user_songs, role)
    return ranked.select(
        *interactions.columns,
        role.alias(ROLE),
        F.coalesce(role.isNotNull() & (F.col(_RANK) <= n_hidden), F.lit(False)).alias(HIDDEN),
    )


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

    :func:`flag_split` with one :class:`Role`. Both frames keep the input's columns and are
    persisted: ``unpersist`` them when done. ``exclude_users`` (a frame with ``user_col``) are
    never held out: a validation split of a training split leaves the evaluation's users out.
    """
    flagged = flag_split(
        interactions,
        [Role(user_fraction, play_fraction, seed)],
        min_user_songs,
        exclude_users=exclude_users,
        user_col=user_col,
        item_col=item_col,
    )
    columns = interactions.columns
    train = flagged.filter(~F.col(HIDDEN)).select(*columns)
    test = flagged.filter(F.col(HIDDEN)).select(*columns)
    return train.persist(StorageLevel.MEMORY_AND_DISK), test.persist(StorageLevel.MEMORY_AND_DISK)
