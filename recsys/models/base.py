"""The one shape every recommender has (after ``implicit`` and Spark ML's ``ALS``).

``fit(interactions)`` learns from ``(user_idx, song_idx, plays)`` and returns the fitted model;
``recommend(users, n)`` gives each user's top ``n`` songs as the long table
``(user_idx, song_idx, score, rank)`` of :data:`recsys.schemas.TOPN_SCHEMA`: rank 1 first,
scores not increasing with rank, equal scores in ascending song id, never a song the user
played in the fitted interactions, at most ``n`` rows per user and only the users asked for;
``similar_items(k)`` gives each song's ``k`` nearest songs as
:data:`recsys.schemas.NEIGHBOURS_SCHEMA` where the model has such a notion (``None`` where it
has not). Production steps and the evaluation call these same methods with the same settings,
and ``tests/unit/test_recommender_contract.py`` runs every model through them on one
known-answer matrix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from recsys.errors import ModelError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class Recommender(ABC):
    """Base of every model: fit on interactions, recommend top-N, similar items if it has them."""

    name: ClassVar[str]

    _interactions: DataFrame | None = None

    @abstractmethod
    def fit(self, interactions: DataFrame) -> Recommender:
        """Learn from ``(user_idx, song_idx, plays)``; returns ``self``, fitted."""

    @abstractmethod
    def recommend(self, users: DataFrame | None, n: int) -> DataFrame:
        """Top ``n`` unplayed songs for each user of ``users`` (``user_idx``; None: every user
        of the fitted interactions), in :data:`recsys.schemas.TOPN_SCHEMA`."""

    def similar_items(self, k: int) -> DataFrame | None:
        """Each song's ``k`` nearest songs (:data:`recsys.schemas.NEIGHBOURS_SCHEMA`), or None."""
        return None

    @property
    def interactions(self) -> DataFrame:
        """The interactions the model was fitted on."""
        if self._interactions is None:
            raise ModelError(f"{type(self).__name__} is not fitted: call fit(interactions)")
        return self._interactions


def check_n(n: int, what: str = "n") -> int:
    """``n`` as a positive list length, or an error naming it."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ModelError(f"{what}: expected a positive integer, got {n!r}")
    return n
