"""The hybrid's two tables ranked inside the scoring blocks, without the pool ever being a table.

:mod:`recsys.models.pool` scores each block of users against a broadcast index; ranked in
Spark, that pool (every user's ALS, content and item-based lists, up to three times the
depth a user keeps) is shuffled by user once more and sorted by three windows. Here each
block ranks its own pool with :func:`recsys.models.blend.rerank` (the pandas rules that
:func:`recsys.models.hybrid.rank_candidates` follows; the tests check the two agree) into
both lists at once: ``user_candidates`` (the pool's top ``depth``, no artist cap) and
``user_recommendations`` (the top ``top_n`` with every rule). What leaves a block is the
users' kept rows, so nothing of the pool's size is shuffled.

The index carries, per ``song_idx``, the catalogue's popularity (computed in Spark, as the
Spark ranking uses it) and a 64-bit hash of the artist (the artist cap groups songs by it;
the names are joined back onto the kept rows); a pooled song the catalogue lacks is left
out, as the Spark ranking's inner join with the catalogue leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.models.blend import rerank
from recsys.models.pool import PoolIndex, scored_pool
from recsys.similarity.gather import gather_columns
from recsys.similarity.ship import Gather

LIST = "_list"  # 0: user_candidates, 1: user_recommendations
CANDIDATES, RECOMMENDATIONS = 0, 1
ARTIST_KEY = "_artist_key"

RANKED_SCHEMA = T.StructType(
    [
        T.StructField(S.USER, T.IntegerType(), False),
        T.StructField(S.RANK, T.IntegerType(), False),
        T.StructField(S.SONG, T.IntegerType(), False),
        T.StructField(S.SCORE, T.FloatType(), False),
        T.StructField(S.CF_SCORE, T.FloatType(), False),
        T.StructField(S.CONTENT_SCORE, T.FloatType(), False),
        T.StructField(S.ITEM_SCORE, T.FloatType(), False),
        T.StructField(S.POPULARITY, T.FloatType(), False),
        T.StructField(S.ALPHA, T.FloatType(), False),
        T.StructField(S.REASON_SONG, T.IntegerType(), True),
        T.StructField(LIST, T.ByteType(), False),
    ]
)


@dataclass(frozen=True)
class Ranking:
    """What ranks a block's pool: the blend's parameters, the candidates' ``depth`` and the
    final lists' ``top_n`` and artist cap; ``lists`` which of the two a block returns."""

    depth: int
    top_n: int
    max_per_artist: int
    novelty: float
    popularity_exponent: float
    cold_slots: int
    item_weight: float
    popularity_weight: float
    lists: tuple[int, ...] = (CANDIDATES, RECOMMENDATIONS)  # which lists leave the block

    def rank(self, pool: pd.DataFrame, final: bool) -> pd.DataFrame:
        return rerank(
            pool,
            None,
            self.novelty,
            self.max_per_artist if final else 0,
            self.top_n if final else self.depth,
            self.popularity_exponent,
            self.cold_slots,
            self.item_weight,
            self.popularity_weight,
        )


@dataclass(frozen=True)
class Catalogue:
    """Per ``song_idx``: known to the catalogue, its popularity, its artist's hash (where it
    has an artist)."""

    known: np.ndarray
    popularity: np.ndarray
    artist: np.ndarray
    has_artist: np.ndarray

    @classmethod
    def gather(cls, song_info: DataFrame) -> Gather:
        """``(song_idx, popularity, artist)`` as a gather of arrays by ``song_idx``."""
        flat = gather_columns(
            song_info.select(
                S.SONG,
                F.col(S.POPULARITY).cast("float").alias(S.POPULARITY),
                F.coalesce(F.xxhash64(S.ARTIST), F.lit(0)).alias(ARTIST_KEY),
                F.col(S.ARTIST).isNotNull().cast("byte").alias(S.ARTIST),
            ),
            {S.SONG: "int32", S.POPULARITY: "float32", ARTIST_KEY: "int64", S.ARTIST: "int8"},
        )
        return Gather(flat.frame, partial(_catalogue, flat.unpack))

    @classmethod
    def collect(cls, song_info: DataFrame) -> Catalogue:
        """Gather ``(song_idx, popularity, artist)`` into arrays by ``song_idx`` (driver)."""
        return cls.gather(song_info).collect()


def _catalogue(unpack, chunks) -> Catalogue:
    flat = unpack(chunks)
    ids = flat[S.SONG]
    n = int(ids.max()) + 1 if ids.size else 0
    out = Catalogue(
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=np.float32),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
    )
    out.known[ids] = True
    out.popularity[ids] = flat[S.POPULARITY]
    out.artist[ids] = flat[ARTIST_KEY]
    out.has_artist[ids] = flat[S.ARTIST] > 0
    return out


def with_catalogue(pool: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """A block's pool with the catalogue's popularity and artist hash, less the songs the
    catalogue lacks (as the Spark ranking's inner join with the catalogue drops them)."""
    song = pool[S.SONG].to_numpy(dtype=np.int64)
    known = song < catalogue.known.size
    known[known] = catalogue.known[song[known]]
    pool = pool[known].reset_index(drop=True)
    song = song[known]
    pool[S.POPULARITY] = catalogue.popularity[song]
    artist = pd.array(catalogue.artist[song], dtype="Int64")
    artist[~catalogue.has_artist[song]] = pd.NA
    pool[S.ARTIST] = artist
    return pool


def rank_block(
    pool: pd.DataFrame, index: PoolIndex, catalogue: Catalogue, ranking: Ranking
) -> pd.DataFrame:
    """Both lists of one block's scored pool (``RANKED_SCHEMA``'s columns)."""
    pool = with_catalogue(pool, catalogue)
    lists = []
    for code in ranking.lists:
        ranked = ranking.rank(pool, code == RECOMMENDATIONS)
        ranked[LIST] = np.int8(code)
        lists.append(ranked)
    out = pd.concat(lists, ignore_index=True)
    return out[[f.name for f in RANKED_SCHEMA.fields]]


def ranked_lists(rows: DataFrame, broadcast, ranking: Ranking, budget: int = 1 << 21) -> DataFrame:
    """Both tables' rows (``RANKED_SCHEMA``, ``_list`` says which) of :func:`pool_rows`'
    users, scored and ranked block by block against ``broadcast`` (a ``(PoolIndex,
    Catalogue)`` pair)."""

    def finish(pool: pd.DataFrame, value, part: pd.DataFrame) -> pd.DataFrame:
        index, catalogue = value
        return rank_block(pool, index, catalogue, ranking)

    return scored_pool(rows, broadcast, ranking.depth, budget, finish=finish, schema=RANKED_SCHEMA)
