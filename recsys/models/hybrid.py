"""Hybrid recommendations: blend collaborative and content candidates per user and per song.

The blend is the one :mod:`recsys.models.blend` documents (the viewer re-blends the stored
candidates with it in pandas); here it is written with Spark built-ins, and the tests check both
agree:

* ``collaborative = (1 - w_item - w_pop) * cf_score + w_item * item_score + w_pop * popularity``:
  ALS, the item-based (co-play) model and popularity, in the configured shares;
* ``blended = alpha * collaborative + (1 - alpha) * content_score * popularity ** gamma`` with
  the model scores min-max normalised per user to [0, 1] (a missing component counts 0),
  ``alpha`` from the user's number of played songs through the configured curve;
* ``score = (1 - novelty) * blended + novelty * (1 - popularity)``;
* order by score, then song id; at most ``max_per_artist`` songs per artist; top N, of which
  the last ``cold_slots`` go to the songs nobody played that are nearest the user's taste.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.columns import unit_array
from recsys.models import ranked_pool
from recsys.models.base import Recommender, check_n
from recsys.models.candidates import neighbour_relation
from recsys.models.pool import index_parts, scored_pool
from recsys.models.ranked_pool import LIST, Catalogue, Ranking, ranked_lists
from recsys.models.similar import similar_songs, with_reasons
from recsys.models.user_rows import pool_rows
from recsys.similarity.ship import ship
from recsys.similarity.topn import scoring_partitions

if TYPE_CHECKING:
    from recsys.config import HybridConfig
    from recsys.models.als import AlsRecommender
    from recsys.models.itemknn import ItemKNNRecommender


# ----------------------------------------------------------------------------- column math


def alpha_column(n_songs: Column, curve: list, default: float) -> Column:
    """Piecewise-linear alpha over the user's played-song count, clamped at both ends."""
    points = sorted((float(x), float(y)) for x, y in curve)
    if not points:
        return F.lit(float(default))
    expr = F.when(n_songs <= points[0][0], F.lit(points[0][1]))
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x1 == x0:
            continue
        slope = (y1 - y0) / (x1 - x0)
        expr = expr.when(n_songs <= x1, F.lit(y0) + (n_songs - F.lit(x0)) * F.lit(slope))
    return expr.otherwise(F.lit(points[-1][1])).cast("double")


def popularity(songs: DataFrame) -> DataFrame:
    """(song_idx, popularity in [0, 1]): log listeners over log of the most listened song."""
    top = songs.agg(F.max("n_listeners").alias("_max"))
    return songs.crossJoin(F.broadcast(top)).select(
        S.SONG,
        F.when(F.col("_max") > 0, F.log1p("n_listeners") / F.log1p("_max"))
        .otherwise(F.lit(0.0))
        .cast("float")
        .alias(S.POPULARITY),
    )


def rank_candidates(
    candidates: DataFrame,
    novelty: float,
    max_per_artist: int,
    top_n: int,
    alpha: float | Column | None = None,
    popularity_exponent: float | Column = 0.0,
    cold_slots: int = 0,
    group_cols: tuple[str, ...] = (),
    item_weight: float | Column = 0.0,
    popularity_weight: float | Column = 0.0,
) -> DataFrame:
    """Blend, apply the diversity rules and the cold slots, keep the top ``top_n`` per user.

    ``candidates`` has user_idx, song_idx, cf_score, content_score, item_score, popularity,
    alpha, artist; ``alpha`` given overrides each row's stored alpha (the evaluation's alpha
    sweep). The rules are :mod:`recsys.models.blend`'s, step by step. ``group_cols`` rank each
    user's list separately per value of those columns, and ``alpha``, ``popularity_exponent``,
    ``item_weight`` and ``popularity_weight`` may then be columns: the blend fit ranks every
    grid point of a pool in one pass.
    """
    # In double precision, then rounded to float, exactly as recsys.blend does.
    a = F.col(S.ALPHA).cast("double") if alpha is None else _number(alpha)
    cf, content = F.col(S.CF_SCORE).cast("double"), F.col(S.CONTENT_SCORE).cast("double")
    has_item = S.ITEM_SCORE in candidates.columns  # pools built without the item-based model
    item = F.coalesce(F.col(S.ITEM_SCORE).cast("double"), F.lit(0.0)) if has_item else F.lit(0.0)
    pop = F.coalesce(F.col(S.POPULARITY).cast("double"), F.lit(0.0))
    prior = F.pow(pop, _number(popularity_exponent))
    w_item, w_pop = _number(item_weight), _number(popularity_weight)
    collaborative = (F.lit(1.0) - w_item - w_pop) * cf + w_item * item + w_pop * pop
    blended = a * collaborative + (F.lit(1.0) - a) * (content * prior)
    score = F.lit(1.0 - novelty) * blended + F.lit(novelty) * (F.lit(1.0) - pop)
    scored = (
        candidates.withColumn(S.SCORE, score.cast("float"))
        .withColumn("_cold", pop <= F.lit(0.0))
        .withColumn(
            "_key",
            F.when(F.col("_cold"), F.col(S.CONTENT_SCORE).cast("float")).otherwise(F.col(S.SCORE)),
        )
    )
    order = [F.col("_cold").asc(), F.col("_key").desc(), F.col(S.SONG).asc()]
    per = [S.USER, *group_cols]
    if max_per_artist > 0:
        artist_key = F.coalesce(F.col(S.ARTIST), F.concat(F.lit("\u0000song:"), F.col(S.SONG)))
        per_artist = Window.partitionBy(*per, artist_key).orderBy(*order)
        scored = (
            scored.withColumn("_artist_rank", F.row_number().over(per_artist))
            .filter(F.col("_artist_rank") <= max_per_artist)
            .drop("_artist_rank")
        )
    part_rank = F.row_number().over(Window.partitionBy(*per, "_cold").orderBy(*order))
    n_cold = F.sum(F.col("_cold").cast("int")).over(Window.partitionBy(*per))
    c = F.least(n_cold, F.lit(int(cold_slots)))
    kept = (
        scored.withColumn("_part_rank", part_rank)
        .withColumn("_c", c)
        .filter(
            F.when(F.col("_cold"), F.col("_part_rank") <= F.col("_c")).otherwise(
                F.col("_part_rank") <= F.lit(int(top_n)) - F.col("_c")
            )
        )
    )
    ranked = kept.withColumn(S.RANK, F.row_number().over(Window.partitionBy(*per).orderBy(*order)))
    return ranked.drop("_cold", "_key", "_part_rank", "_c")


def _number(value: float | Column) -> Column:
    return value.cast("double") if isinstance(value, Column) else F.lit(float(value))


# ----------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class Signals:
    """Model outputs that let every candidate be scored by both halves, not just the half
    that proposed it: ALS factors (dot product) and content vectors (cosine to the user's
    play-weighted profile)."""

    user_factors: DataFrame
    item_factors: DataFrame
    content_vectors: DataFrame


def user_candidates(
    interactions: DataFrame,
    users: DataFrame,
    songs: DataFrame,
    cf_topn: DataFrame,
    relation: DataFrame,
    cfg: HybridConfig,
    content_depth: int,
    signals: Signals | None = None,
    item_topn: DataFrame | None = None,
    item_lists: bool = False,
) -> DataFrame:
    """The candidate pool with normalised component scores, alpha, popularity and reason.

    The pool is each user's collaborative top-N plus the ``content_depth`` songs nearest to
    what they played (:func:`recsys.models.candidates.seed_hits`' rules), plus the item-based
    model's list (``item_topn``; with ``item_lists``, each user's ``content_depth`` best by
    ``relation``'s co-play lists, as ``ItemKNNRecommender.recommend`` scores them, in the
    blocks). With ``signals`` every pooled song is scored by ALS and content; without, each
    keeps only the score of the list that proposed it (the other counts 0). The item-based
    score is its own list's, min-max normalised: a song beyond that list counts 0, as the
    list's last does.

    Computed per block of users against a broadcast of the neighbour lists, item factors and
    content vectors (:mod:`recsys.models.pool`); the broadcast is registered with
    :func:`recsys.similarity.topn.release_broadcasts`.
    """
    broadcast, rows = _pool_inputs(
        interactions, users, cf_topn, relation, cfg, signals, item_topn, item_lists=item_lists
    )
    pool = scored_pool(rows, broadcast, content_depth)
    # The catalogue's popularity and artist are broadcast (catalogue-sized: about 40 MB at 1M
    # songs), and the pool is partitioned by user once: every window that ranks it (per user,
    # per user and artist, per user and grid point) then needs no further exchange.
    parts = scoring_partitions(interactions.sparkSession)
    pool = pool.join(F.broadcast(song_info(songs)), S.SONG).repartition(parts, S.USER)
    return pool.select(
        S.USER,
        S.SONG,
        S.CF_SCORE,
        S.CONTENT_SCORE,
        S.ITEM_SCORE,
        S.POPULARITY,
        S.ALPHA,
        S.ARTIST,
        S.REASON_SONG,
    )


def _pool_inputs(
    interactions, users, cf_topn, relation, cfg, signals, item_topn=None, extra=None,
    ranged=False, item_lists=False,
):  # fmt: skip
    """The broadcast index (a tuple ``(index, *extra)`` with ``extra``; with ``item_lists``
    scoring the item-based lists) and the user rows the pool is scored from (with ``ranged``,
    in contiguous ranges of users: :func:`pool_rows`)."""
    parts, build = index_parts(
        relation,
        None if signals is None else signals.item_factors,
        None if signals is None else signals.content_vectors,
        played=interactions,
        coplay_lists=item_lists,
    )
    broadcast = ship(interactions.sparkSession, parts, build, extra or ())
    user_alpha = users.select(
        S.USER, alpha_column(F.col("n_songs"), cfg.alpha_curve, cfg.alpha).alias(S.ALPHA)
    )
    rows = pool_rows(
        interactions,
        user_alpha,
        cf_topn,
        item_topn,
        None if signals is None else signals.user_factors,
        cfg.seeds_per_user,
        ranged=ranged,
    )
    return broadcast, rows


def song_info(songs: DataFrame) -> DataFrame:
    """(song_idx, popularity, artist) of the catalogue the pool is ranked with."""
    return popularity(songs).join(songs.select(S.SONG, S.ARTIST), S.SONG)


def ranked_inputs(songs: DataFrame, ranged: bool = False, **inputs):
    """``(broadcast, rows)`` of :func:`_pool_inputs` (``inputs``: its arguments) with the
    catalogue (:class:`ranked_pool.Catalogue` of ``songs``) broadcast beside the index: what
    lists are ranked from inside the blocks (the hybrid's tables, the blend fit's grid)."""
    return _pool_inputs(**inputs, extra=(Catalogue.gather(song_info(songs)),), ranged=ranged)


def ranked_user_lists(songs: DataFrame, **inputs) -> DataFrame:
    """Both tables' rows of :func:`ranked_tables` over :func:`user_candidates`' pool (``songs``
    and ``inputs``: its arguments, less ``content_depth``), ranked inside the scoring blocks
    (:mod:`recsys.models.ranked_pool`): ``RANKED_SCHEMA``, without artist names and reasons
    (:func:`decorate` adds them).

    The users' rows are built in contiguous ranges of users (:func:`pool_rows`, ``ranged``):
    each output partition holds one range, and the tables are written clustered by user
    (``Warehouse.write_table(ranged=True)``) with no shuffle of their rows."""
    cfg: HybridConfig = inputs["cfg"]
    broadcast, rows = ranked_inputs(songs, ranged=True, **inputs)
    return ranked_lists(rows, broadcast, ranking_of(cfg, cfg.top_n))


def ranking_of(
    cfg: HybridConfig, n: int, lists=(ranked_pool.CANDIDATES, ranked_pool.RECOMMENDATIONS)
) -> Ranking:
    """The :class:`Ranking` of lists of ``n`` from the pool behind them, by ``cfg``'s blend."""
    return Ranking(
        pool_size(cfg, n),
        n,
        cfg.max_per_artist,
        cfg.novelty,
        cfg.popularity_exponent,
        cfg.cold_slots,
        cfg.item_weight,
        cfg.popularity_weight,
        tuple(lists),
    )


def decorate(rows: DataFrame, songs: DataFrame, which: int | None = None) -> DataFrame:
    """Ranked rows with their artists and reasons (broadcast joins: the rows stay where they
    are), as ``RECOMMENDATIONS_SCHEMA``; ``which`` picks one list of
    :func:`ranked_user_lists` (``ranked_pool.CANDIDATES`` or ``RECOMMENDATIONS``)."""
    if which is not None:
        rows = rows.where(F.col(LIST) == which).drop(LIST)
    artists = F.broadcast(songs.select(S.SONG, S.ARTIST))
    return S.to_schema(
        with_reasons(rows.join(artists, S.SONG, "left"), songs), S.RECOMMENDATIONS_SCHEMA
    )


def play_statistics(interactions: DataFrame, songs: DataFrame) -> tuple[DataFrame, DataFrame]:
    """``(user_idx, n_songs)`` and the catalogue with ``n_listeners`` from ``interactions``.

    These are what ingest writes into ``users`` and ``songs`` for the whole data; computed from
    the fitted plays, a model fitted on a training split never sees the plays it is judged on.
    """
    user_stats = interactions.groupBy(S.USER).agg(F.count(F.lit(1)).cast("int").alias("n_songs"))
    song_stats = interactions.groupBy(S.SONG).agg(
        F.count(F.lit(1)).cast("int").alias("n_listeners")
    )
    catalogue = (
        songs.select(S.SONG, S.ARTIST, S.TITLE)
        .join(song_stats, S.SONG, "left")
        .fillna(0, ["n_listeners"])
    )
    return user_stats, catalogue


def ranked_tables(
    pool: DataFrame, songs: DataFrame, cfg: HybridConfig
) -> tuple[DataFrame, DataFrame]:
    """``(user_candidates, user_recommendations)`` of a pool: the whole pool ranked without
    the artist cap (what the viewer re-blends), and the final ``top_n`` with every rule."""
    depth, gamma, slots = pool_size(cfg, cfg.top_n), cfg.popularity_exponent, cfg.cold_slots
    shares = {"item_weight": cfg.item_weight, "popularity_weight": cfg.popularity_weight}
    candidates = rank_candidates(pool, cfg.novelty, 0, depth, None, gamma, slots, **shares)
    final = rank_candidates(
        pool, cfg.novelty, cfg.max_per_artist, cfg.top_n, None, gamma, slots, **shares
    )
    return (
        S.to_schema(with_reasons(candidates, songs), S.RECOMMENDATIONS_SCHEMA),
        S.to_schema(with_reasons(final, songs), S.RECOMMENDATIONS_SCHEMA),
    )


def pool_size(cfg: HybridConfig, n: int) -> int:
    """The pool a list of ``n`` is picked from: as much deeper than ``n`` as production's
    ``top_n + extra_candidates`` is than ``top_n``."""
    return max(n, math.ceil(n * (cfg.top_n + cfg.extra_candidates) / cfg.top_n))


class HybridRecommender(Recommender):
    """The blend of a fitted ALS model, content neighbours and, optionally, the item-based
    (co-play) model (see the module docstring).

    ``songs`` is the catalogue (``song_idx``, ``artist``, ``title``; cold songs included);
    ``content_neighbours`` and ``content_vectors`` come from the content and neighbours steps
    (they never see plays). :meth:`candidates` is the scored pool, as deep as production's
    ``top_n + extra_candidates`` is than ``top_n``; :meth:`rank` applies the blend, the
    diversity rules and the cold slots to it. With ``itemknn`` (fitted on the same plays) its
    lists join the pool, its neighbours give reasons, and ``item_score`` carries its score;
    without, ``item_score`` is 0 and the pool is ALS's and content's alone. ``coplay``
    (a co-play neighbour table) feeds :meth:`similar_songs` either way.
    """

    name = "hybrid"

    def __init__(
        self,
        cfg: HybridConfig,
        songs: DataFrame,
        als: AlsRecommender,
        content_neighbours: DataFrame,
        content_vectors: DataFrame,
        itemknn: ItemKNNRecommender | None = None,
        coplay: DataFrame | None = None,
    ) -> None:
        self.cfg = cfg
        self.itemknn = itemknn
        self.coplay = coplay if coplay is not None or itemknn is None else itemknn.neighbours
        self.songs = songs
        self.als = als
        self.content_neighbours = content_neighbours
        # A song without content has an all-zero vector: no vector at all to the blend, so a
        # user or candidate without content gets no content score (not a tie at 1.0).
        self.content_vectors = content_vectors.select(S.SONG, S.FEATURES).where(
            unit_array(F.col(S.FEATURES)).isNotNull()
        )
        self._cached: list[DataFrame] = []

    def release(self) -> None:
        """Unpersist what :meth:`tables` and :meth:`candidates` cached."""
        for df in self._cached:
            df.unpersist()
        self._cached.clear()

    def fit(self, interactions: DataFrame) -> HybridRecommender:
        self._interactions = interactions
        self.user_stats, self.catalogue = play_statistics(interactions, self.songs)
        return self

    def pool_size(self, n: int) -> int:
        return pool_size(self.cfg, n)

    def _inputs(self, users: DataFrame | None, depth: int) -> dict:
        """The inputs of the pool of ``users`` (None: all; their plays persisted) at ``depth``."""
        played, user_stats = self.interactions, self.user_stats
        user_factors = self.als.user_factors
        if users is not None:
            users = users.select(S.USER).distinct()
            played = played.join(users, S.USER, "left_semi").persist(StorageLevel.MEMORY_AND_DISK)
            self._cached.append(played)
            user_stats = user_stats.join(users, S.USER, "left_semi")
            user_factors = user_factors.join(users, S.USER, "left_semi")
        cf_topn = self.als.recommend(users, max(depth, self.als.cfg.top_n))
        coplay = None  # with the item-based model, its lists are scored in the pool's blocks
        if self.itemknn is not None:  # from its co-play lists, as its recommend would
            coplay = self.itemknn.similar_items(self.itemknn.cfg.k)
        relation = neighbour_relation(
            self.als.similar_items(self.als.cfg.neighbours_k), self.content_neighbours, coplay
        )
        return {
            "interactions": played,
            "users": user_stats,
            "songs": self.catalogue,
            "cf_topn": cf_topn,
            "relation": relation,
            "cfg": self.cfg,
            "signals": Signals(user_factors, self.als.item_factors, self.content_vectors),
            "item_lists": coplay is not None,
        }

    def candidates(self, users: DataFrame | None, n: int) -> DataFrame:
        """The scored candidate pool behind lists of ``n`` (``user_candidates`` columns)."""
        check_n(n)
        depth = self.pool_size(n)
        return user_candidates(content_depth=depth, **self._inputs(users, depth))

    def ranked_inputs(self, users: DataFrame | None, n: int):
        """:func:`ranked_inputs` of ``users``' pool behind lists of ``n`` (as
        :meth:`candidates`' pool, without it becoming a table)."""
        check_n(n)
        return ranked_inputs(**self._inputs(users, self.pool_size(n)))

    def rank(
        self,
        pool: DataFrame,
        n: int,
        *,
        alpha: float | None = None,
        max_per_artist: int | None = None,
    ) -> DataFrame:
        """The top ``n`` of a pool by the blend; ``alpha`` overrides each user's own."""
        h = self.cfg
        cap = h.max_per_artist if max_per_artist is None else max_per_artist
        return rank_candidates(
            pool,
            h.novelty,
            cap,
            n,
            alpha,
            h.popularity_exponent,
            h.cold_slots,
            item_weight=h.item_weight,
            popularity_weight=h.popularity_weight,
        )

    def recommend(self, users: DataFrame | None, n: int) -> DataFrame:
        """:meth:`rank` of :meth:`candidates`' pool, ranked inside the scoring blocks (the
        pool never becomes a table; ``tests/unit/test_pool.py`` checks the two agree)."""
        broadcast, rows = self.ranked_inputs(users, n)
        ranking = ranking_of(self.cfg, n, (ranked_pool.RECOMMENDATIONS,))
        return S.to_schema(ranked_lists(rows, broadcast, ranking), S.TOPN_SCHEMA)

    def tables(self) -> tuple[DataFrame, DataFrame]:
        """``(user_candidates, user_recommendations)`` for every user, with reasons: what
        :func:`ranked_tables` makes of :meth:`candidates`' pool, ranked inside the scoring
        blocks (:func:`ranked_user_lists`).

        Both lists stay cached until :meth:`release`: they are scored in one pass.
        """
        return tuple(self.decorate(frame) for frame in self.undecorated_tables())

    def undecorated_tables(self) -> tuple[DataFrame, DataFrame]:
        """:meth:`tables` without artist names and reasons (``RANKED_SCHEMA`` less ``_list``):
        :meth:`decorate` adds them, after the write's clustering shuffle."""
        depth = self.pool_size(self.cfg.top_n)
        ranked = ranked_user_lists(**self._inputs(None, depth))
        ranked = ranked.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(ranked)
        which = (ranked_pool.CANDIDATES, ranked_pool.RECOMMENDATIONS)
        return tuple(ranked.where(F.col(LIST) == w).drop(LIST) for w in which)

    def decorate(self, rows: DataFrame) -> DataFrame:
        """Rows of :meth:`undecorated_tables` with artists and reasons, by broadcast joins."""
        return decorate(rows, self.songs)

    def similar_songs(self, k: int | None = None) -> DataFrame:
        """The ``similar_songs`` table: collaborative and content neighbours blended."""
        return similar_songs(
            self.catalogue,
            self.als.similar_items(self.als.cfg.neighbours_k),
            self.content_neighbours,
            k or self.cfg.similar_k,
            self.cfg.similar_alpha,
            coplay_neighbours=self.coplay,
            coplay_weight=self.cfg.similar_coplay_weight,
        )

    def similar_items(self, k: int) -> DataFrame:
        return S.to_schema(
            self.similar_songs(k).select(
                S.SONG,
                F.col(S.SIMILAR).alias(S.NEIGHBOUR),
                F.col(S.SCORE).alias(S.SIMILARITY),
                S.RANK,
            ),
            S.NEIGHBOURS_SCHEMA,
        )
