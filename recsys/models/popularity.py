"""The popularity baseline: the most listened songs each user has not played."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import EvaluationError
from recsys.evaluation.checks import check_columns
from recsys.models.base import Recommender, check_n

_POP_RANK = "pop_rank"
_N_SONGS = "n_songs"
_LISTENERS = "n_listeners"


def popularity_recommender(
    train: DataFrame,
    n: int,
    users: DataFrame | None = None,
    *,
    user_col: str = S.USER,
    item_col: str = S.SONG,
) -> DataFrame:
    """The top ``n`` songs by number of listeners that each user has not played in ``train``.

    Ties go to the smaller ``song_idx``. ``users`` (a frame with ``user_col``) chooses whom to
    recommend for; by default every user in ``train``. Returns ``(user_idx, song_idx, score,
    rank)`` as in ``schemas.TOPN_SCHEMA`` with ``score`` the song's listener count. Pass only
    the evaluated users at scale: the output has ``n`` rows per user.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise EvaluationError(f"n: expected a positive integer, got {n!r}")
    check_columns(train, "train", user_col, item_col)
    played = train.select(user_col, item_col).distinct()
    user_songs = played.groupBy(user_col).agg(F.count("*").alias(_N_SONGS))
    if users is None:
        targets = user_songs
    else:
        check_columns(users, "users", user_col)
        targets = (
            users.select(user_col)
            .distinct()
            .join(user_songs, user_col, "left")
            .fillna(0, subset=[_N_SONGS])
        )
    # A user's top n unplayed songs lie within the first n + n_songs of the global order, so
    # that prefix (n + the largest history: a few thousand rows) is all that is needed.
    longest = targets.agg(F.max(_N_SONGS)).first()[0]
    if longest is None:  # no users to recommend for
        longest = 0
    listeners = played.groupBy(item_col).agg(F.count("*").alias(_LISTENERS))
    top_songs = listeners.orderBy(F.desc(_LISTENERS), F.asc(item_col)).limit(n + int(longest))
    # The prefix is small by construction; one partition for the global numbering is fine.
    top_songs = top_songs.withColumn(
        _POP_RANK,
        F.row_number().over(
            Window.partitionBy(F.lit(0)).orderBy(F.desc(_LISTENERS), F.asc(item_col))
        ),
    )
    candidates = targets.select(
        user_col, F.explode(F.sequence(F.lit(1), F.lit(n) + F.col(_N_SONGS))).alias(_POP_RANK)
    ).join(F.broadcast(top_songs), _POP_RANK)
    unplayed = candidates.join(played, [user_col, item_col], "left_anti")
    by_popularity = Window.partitionBy(user_col).orderBy(_POP_RANK)
    return (
        unplayed.withColumn(S.RANK, F.row_number().over(by_popularity))
        .filter(F.col(S.RANK) <= n)
        .select(
            F.col(user_col).cast("int").alias(user_col),
            F.col(item_col).cast("int").alias(item_col),
            F.col(_LISTENERS).cast("float").alias(S.SCORE),
            F.col(S.RANK).cast("int").alias(S.RANK),
        )
    )


class PopularityRecommender(Recommender):
    """The baseline: songs by number of listeners in the fitted plays, unplayed ones first."""

    name = "popularity"

    def fit(self, interactions: DataFrame) -> PopularityRecommender:
        self._interactions = interactions
        return self

    def recommend(self, users: DataFrame | None, n: int) -> DataFrame:
        return popularity_recommender(self.interactions, check_n(n), users)
