"""Content alone: the songs whose content vectors lie nearest to what the user played."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.models.base import Recommender, check_n
from recsys.models.candidates import neighbour_relation, seed_hits, top_per_user

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class ContentRecommender(Recommender):
    """Each user's songs by summed content similarity to their most played songs.

    ``content_neighbours`` is the neighbours step's table (it never sees plays); the score of
    a song is ``sum over the user's seeds of similarity * log(1 + plays)``
    (:func:`recsys.models.candidates.seed_hits`), the same candidates the hybrid pools.
    """

    name = "content"

    def __init__(self, content_neighbours: DataFrame, seeds_per_user: int) -> None:
        self.content_neighbours = content_neighbours
        self.seeds_per_user = seeds_per_user

    def fit(self, interactions: DataFrame) -> ContentRecommender:
        self._interactions = interactions
        return self

    def recommend(self, users: DataFrame | None, n: int) -> DataFrame:
        check_n(n)
        played = self.interactions
        if users is not None:
            played = played.join(users.select(S.USER).distinct(), S.USER, "left_semi")
        relation = neighbour_relation(None, self.content_neighbours)
        hits = seed_hits(played, relation, self.seeds_per_user).filter(
            F.col("content_raw").isNotNull()
        )
        ranked = top_per_user(hits, "content_raw", n, rank_col=S.RANK)
        return S.to_schema(ranked.withColumnRenamed("content_raw", S.SCORE), S.TOPN_SCHEMA)

    def similar_items(self, k: int) -> DataFrame:
        check_n(k, "k")
        return self.content_neighbours.where(F.col(S.RANK) <= k)
