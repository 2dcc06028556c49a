"""The blocked candidate pool (recsys.models.pool) equals the row-wise Spark pool it replaced
(tests/reference_pool.py), on random tables full of ties and on the tiny pipeline's models."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.config import HybridConfig, ItemKnnConfig
from recsys.models import hybrid, pool, user_rows
from recsys.models.als import AlsRecommender
from recsys.models.candidates import neighbour_relation
from recsys.models.itemknn import ItemKNNRecommender, NeighbourIndex, score_block
from recsys.storage.warehouse import Warehouse
from tests import reference_pool

COLUMNS = [S.USER, S.SONG, S.CF_SCORE, S.CONTENT_SCORE, S.ITEM_SCORE, S.POPULARITY, S.ALPHA]


def frame(df) -> pd.DataFrame:
    out = df.toPandas().sort_values([S.USER, S.SONG]).reset_index(drop=True)
    out[S.REASON_SONG] = out[S.REASON_SONG].astype("Int64")
    return out


def assert_same_pool(got, want):
    got, want = frame(got), frame(want)
    assert len(got) > 0
    pd.testing.assert_frame_equal(
        got[[S.USER, S.SONG, S.ARTIST, S.REASON_SONG]],
        want[[S.USER, S.SONG, S.ARTIST, S.REASON_SONG]],
    )
    for col in COLUMNS[2:]:  # sums over seeds in another order may differ in their last bits
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), 1e-6, 1e-7, col)


def assert_same_lists(got_pool, want_pool, songs, cfg):
    for got, want in zip(
        hybrid.ranked_tables(got_pool, songs, cfg),
        hybrid.ranked_tables(want_pool, songs, cfg),
        strict=True,
    ):
        g = got.toPandas().sort_values([S.USER, S.RANK]).reset_index(drop=True)
        w = want.toPandas().sort_values([S.USER, S.RANK]).reset_index(drop=True)
        pd.testing.assert_frame_equal(
            g[[S.USER, S.RANK, S.SONG, S.REASON]], w[[S.USER, S.RANK, S.SONG, S.REASON]]
        )


@pytest.fixture(scope="module")
def random_tables(spark):
    """300 users x 400 songs with plays, scores and similarities on coarse grids (ties
    everywhere), songs without vectors or factors, users without factors, a catalogue that
    misses some songs, co-play neighbours that reach songs nothing else does."""
    rng = np.random.default_rng(11)
    n_users, n_songs, rank, dim = 300, 400, 4, 5
    rows = []
    for u in range(n_users):
        for s in rng.choice(n_songs, int(rng.integers(1, 25)), replace=False):
            rows.append((u, int(s), int(rng.integers(1, 6))))
    interactions = spark.createDataFrame(rows, S.INTERACTIONS_SCHEMA)
    n_played = pd.DataFrame(rows).groupby(0).size()
    users = spark.createDataFrame(  # users 0-4 are not in the users table: no pool at all
        [(int(u), f"u{u}", int(n), int(n)) for u, n in n_played.items() if u >= 5],
        S.USERS_SCHEMA,
    )
    songs = spark.createDataFrame(
        [
            (s, f"S{s}", f"T{s}", f"artist{s % 37}", f"title{s}", 1, True, int(lis), int(lis))
            for s, lis in enumerate(rng.integers(0, 30, n_songs))
            if s % 53 != 7  # a few songs the catalogue does not know
        ],
        S.SONGS_SCHEMA,
    )

    def neighbours(k, n_from, grid):
        return spark.createDataFrame(
            [
                (s, int(t), float(rng.integers(1, grid + 1) / grid), r + 1)
                for s in range(n_from)
                for r, t in enumerate(rng.choice(n_songs, k, replace=False))
                if t != s
            ],
            S.NEIGHBOURS_SCHEMA,
        )

    def topn(depth, zero_share=0.0, skip=0):
        out = []
        for u in range(skip, n_users):  # the first ``skip`` users have no list
            if u == n_users - 1:  # a song id beyond every table: never pooled
                out.append((u, 10 * n_songs, 5.0, depth + 1))
            for r, s in enumerate(rng.choice(n_songs, depth, replace=False)):
                score = 0.0 if rng.random() < zero_share else float(rng.integers(0, 20) / 10)
                out.append((u, int(s), score, r + 1))
        return spark.createDataFrame(out, S.TOPN_SCHEMA)

    def vectors(ids, width):
        return spark.createDataFrame(
            [(int(i), [float(x) for x in rng.integers(-3, 4, width) / 4]) for i in ids],
            "song_idx int, features array<float>",
        )

    # songs 350+ have no ALS lists, 390+ no content lists, 380+ no co-play lists
    relation = neighbour_relation(
        neighbours(6, 350, 5), neighbours(8, 390, 4), neighbours(5, 380, 10)
    )
    signals = hybrid.Signals(
        vectors(rng.choice(n_users, 280, replace=False), rank).withColumnRenamed(S.SONG, S.USER),
        vectors(rng.choice(n_songs, 370, replace=False), rank),
        vectors(rng.choice(n_songs, 330, replace=False), dim),
    )
    return interactions, users, songs, topn(12, skip=20), relation, signals, topn(10, 0.2, 40)


@pytest.mark.parametrize("with_signals", [False, True])
@pytest.mark.parametrize("with_items", [False, True])
def test_blocked_pool_equals_the_row_wise_pool(spark, random_tables, with_signals, with_items):
    interactions, users, songs, cf_topn, relation, signals, item_topn = random_tables
    cfg = HybridConfig(
        top_n=6,
        extra_candidates=4,
        alpha=0.5,
        alpha_curve=[[1, 0.2], [10, 0.9]],
        item_weight=0.3 if with_items else 0.0,
        seeds_per_user=4,
    )
    args = (
        interactions,
        users,
        songs,
        cf_topn,
        relation,
        cfg,
        9,
        signals if with_signals else None,
    )
    items = item_topn if with_items else None
    got = hybrid.user_candidates(*args, item_topn=items)
    want = reference_pool.user_candidates(*args, item_topn=items)
    assert_same_pool(got, want)
    assert_same_lists(got, want, songs, cfg)


def assert_same_tables(got_tables, want_tables):
    """Every column of both tables equal, floats to the bit."""
    for got, want in zip(got_tables, want_tables, strict=True):
        g = got.toPandas().sort_values([S.USER, S.RANK]).reset_index(drop=True)
        w = want.toPandas().sort_values([S.USER, S.RANK]).reset_index(drop=True)
        assert len(g) > 0 and list(g.columns) == [f.name for f in S.RECOMMENDATIONS_SCHEMA]
        pd.testing.assert_frame_equal(g, w)


@pytest.mark.parametrize(
    "shares",
    [
        dict(max_per_artist=1, cold_slots=2, novelty=0.1, popularity_exponent=0.5),
        dict(max_per_artist=2, item_weight=0.3, popularity_weight=0.2),
        dict(max_per_artist=0, cold_slots=1, popularity_exponent=2.0, item_weight=0.5),
    ],
)
def test_lists_ranked_in_the_blocks_equal_the_spark_ranking(spark, random_tables, shares):
    """The hybrid's tables ranked inside the scoring blocks (recsys.models.ranked_pool) are
    the Spark ranking of the pool (hybrid.ranked_tables), to the bit: ties, cold songs, songs
    without an artist, songs the catalogue lacks, the artist cap, the cold slots."""
    interactions, users, songs, cf_topn, relation, signals, item_topn = random_tables
    songs = songs.withColumn(  # some songs without an artist: never capped
        S.ARTIST, F.when(F.col(S.SONG) % 11 == 3, F.lit(None)).otherwise(F.col(S.ARTIST))
    )
    cfg = HybridConfig(
        top_n=6, extra_candidates=4, alpha=0.5, alpha_curve=[[1, 0.2], [10, 0.9]], **shares
    )
    depth = hybrid.pool_size(cfg, cfg.top_n)
    args = dict(
        interactions=interactions,
        users=users,
        songs=songs,
        cf_topn=cf_topn,
        relation=relation,
        cfg=cfg,
        signals=signals,
        item_topn=item_topn,
    )
    want = hybrid.ranked_tables(hybrid.user_candidates(content_depth=depth, **args), songs, cfg)
    ranked = hybrid.ranked_user_lists(**args)
    got = tuple(hybrid.decorate(ranked, songs, which) for which in (0, 1))
    assert_same_tables(got, want)
    # what leaves the blocks is the kept rows only: depth and top_n per user at most
    counts = ranked.groupBy(S.USER, "_list").count().toPandas()
    assert counts[counts["_list"] == 0]["count"].max() == depth
    assert counts[counts["_list"] == 1]["count"].max() <= cfg.top_n


def test_blocks_of_one_user_give_the_same_pool(spark, random_tables):
    interactions, users, songs, cf_topn, relation, signals, item_topn = random_tables
    index = pool.pool_index(relation, signals.item_factors, signals.content_vectors)
    bc = pool.broadcast_index(spark, index)
    user_alpha = users.selectExpr("user_idx", "CAST(0.5 AS FLOAT) AS alpha")
    args = (interactions, user_alpha, cf_topn, item_topn, signals.user_factors, 4)
    rows = user_rows.pool_rows(*args)
    whole = pool.scored_pool(rows, bc, 9).toPandas()
    single = pool.scored_pool(rows, bc, 9, budget=1).toPandas()  # every user its own block
    key = [S.USER, S.SONG]
    pd.testing.assert_frame_equal(
        whole.sort_values(key).reset_index(drop=True),
        single.sort_values(key).reset_index(drop=True),
    )
    assert pool.block_bounds(np.array([3, 3, 3, 9, 1]), 6) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert pool.block_bounds(np.ones(5, int), 100, max_rows=2) == [(0, 2), (2, 4), (4, 5)]


def test_ranged_rows_hold_one_range_of_users_per_partition(spark, random_tables):
    """``pool_rows(ranged=True)``: partition k holds the k-th contiguous range of users, from
    one hash exchange of the inputs (no range sampling, no join), and the pool scored from it
    is the unranged one's."""
    interactions, users, _, cf_topn, relation, signals, item_topn = random_tables
    index = pool.pool_index(relation, signals.item_factors, signals.content_vectors)
    bc = pool.broadcast_index(spark, index)
    user_alpha = users.selectExpr("user_idx", "CAST(0.5 AS FLOAT) AS alpha")
    args = (interactions, user_alpha, cf_topn, item_topn, signals.user_factors, 4)
    ranged = user_rows.pool_rows(*args, ranged=True)
    placed = ranged.select(S.USER, F.spark_partition_id().alias("p")).toPandas()
    spans = placed.groupby("p")[S.USER].agg(["min", "max", "count"]).sort_index()
    assert list(spans.index) == list(range(user_rows.scoring_partitions(spark)))
    assert (spans["min"].to_numpy()[1:] > spans["max"].to_numpy()[:-1]).all()
    assert spans["count"].sum() == users.count() == placed[S.USER].nunique()
    plan = ranged._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Exchange ") == 1 and "rangepartitioning" not in plan, plan
    assert "Join" not in plan, plan

    key = [S.USER, S.SONG]
    got = pool.scored_pool(ranged, bc, 9).toPandas().sort_values(key).reset_index(drop=True)
    unranged = user_rows.pool_rows(*args)
    want = pool.scored_pool(unranged, bc, 9).toPandas().sort_values(key).reset_index(drop=True)
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, want)


def test_minmax_rows_matches_spark_precision():
    # Spark on a float column: the differences in float, the division in double. These values
    # tell that apart from differences in double (0.4587057) or all in float.
    f = np.float32
    lo, v, hi = f(0.1350965), f(0.3889214), f(0.68844676)
    value = np.array([lo, v, hi, 5.0, 5.0, 2.0], dtype=np.float32)
    present = np.array([True, True, True, True, True, False])
    got = pool.minmax_rows(value, present, np.array([0, 3]))
    assert got[1] == f(np.float64(v - lo) / np.float64(hi - lo)) == f(0.45870563)
    assert list(got) == [0.0, got[1], 1.0, 1.0, 1.0, 0.0]  # all equal: 1.0; absent: 0.0
    # a double column (the rescored ALS and content scores): all in double
    doubles = value.astype(np.float64)
    got = pool.minmax_rows(doubles, present, np.array([0, 3]))
    assert got[1] == f((doubles[1] - doubles[0]) / (doubles[2] - doubles[0]))


def test_tiny_pipeline_pool_and_lists_unchanged(spark, tiny_pipeline):
    cfg, run_id, _, _ = tiny_pipeline
    wh = Warehouse.from_config(cfg)
    read = lambda name: wh.read_table(spark, run_id, name)  # noqa: E731
    interactions, songs = read(S.INTERACTIONS), read(S.SONGS)
    als = AlsRecommender.from_factors(
        cfg.als,
        interactions,
        read(S.USER_FACTORS),
        read(S.ITEM_FACTORS),
        top_n=read(S.CF_USER_TOPN),
        neighbours=read(S.CF_NEIGHBOURS),
    )
    coplay = read(S.COPLAY_NEIGHBOURS)
    itemknn = ItemKNNRecommender.from_neighbours(cfg.itemknn, interactions, coplay)
    h_cfg = dataclasses.replace(cfg.hybrid, item_weight=0.3)
    model = hybrid.HybridRecommender(
        h_cfg, songs, als, read(S.CONTENT_NEIGHBOURS), read(S.CONTENT_VECTORS), itemknn=itemknn
    ).fit(interactions)
    try:
        got = model.candidates(None, h_cfg.top_n)
        depth = model.pool_size(h_cfg.top_n)
        relation = neighbour_relation(
            als.similar_items(cfg.als.neighbours_k),
            model.content_neighbours,
            itemknn.similar_items(cfg.itemknn.k),
        )
        want = reference_pool.user_candidates(
            interactions,
            model.user_stats,
            model.catalogue,
            als.recommend(None, max(depth, cfg.als.top_n)),
            relation,
            h_cfg,
            depth,
            hybrid.Signals(als.user_factors, als.item_factors, model.content_vectors),
            item_topn=itemknn.recommend(None, depth),
        )
        assert_same_pool(got, want)
        assert_same_lists(got, want, songs, h_cfg)
        # the step's tables, ranked inside the blocks, are the Spark ranking of that pool
        assert_same_tables(model.tables(), hybrid.ranked_tables(got, songs, h_cfg))
        # and so is recommend (the evaluation's lists), for some users at another depth
        users = interactions.select(S.USER).distinct().where(F.col(S.USER) % 3 == 0)
        n = 7
        spark_lists = model.rank(model.candidates(users, n), n).select(*S.TOPN_SCHEMA.names)
        block_lists = model.recommend(users, n)
        g = block_lists.toPandas().sort_values([S.USER, S.RANK]).reset_index(drop=True)
        w = spark_lists.toPandas().sort_values([S.USER, S.RANK]).reset_index(drop=True)
        assert len(g) > 0 and g[S.RANK].max() == n
        pd.testing.assert_frame_equal(g, w, check_dtype=False)
    finally:
        model.release()
        itemknn.release()


def test_gathered_dot_products_are_the_left_to_right_double_sums():
    """The pool's dot products (ALS scores, content profiles against vectors) equal, to the
    bit, each pair's products in double summed left to right from 0.0 (``recsys.columns.dot``
    in Spark), across the chunks they are gathered in (more pairs than one chunk holds)."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 32)).astype(np.float32)
    b = (rng.standard_normal((200, 32)) * 1e3).astype(np.float32)
    ia, ib = rng.integers(0, 300, 10_000), rng.integers(0, 200, 10_000)
    got = pool.dot_gathered(a, ia, b, ib)
    for i in rng.integers(0, 10_000, 300):
        acc = 0.0
        for x, y in zip(a[ia[i]].tolist(), b[ib[i]].tolist(), strict=True):
            acc += x * y  # Python floats: double products, summed in order
        assert got[i] == acc
    assert np.array_equal(pool.dot_rows(a[ia], b[ib]), got)


@pytest.mark.parametrize("with_signals", [False, True])
def test_item_lists_scored_in_the_blocks_equal_the_item_based_models(
    spark, random_tables, with_signals
):
    """``item_lists``: the pool's item-based lists scored inside the blocks from the relation's
    co-play lists equal ``ItemKNNRecommender.recommend``'s from the same lists, to the bit."""
    interactions, users, songs, cf_topn, relation, signals, _ = random_tables
    coplay = relation.where(F.col("kind") == "coplay").select(
        F.col("seed_idx").alias(S.SONG),
        F.col(S.SONG).alias(S.NEIGHBOUR),
        S.SIMILARITY,
        F.lit(1).alias(S.RANK),
    )
    itemknn = ItemKNNRecommender.from_neighbours(ItemKnnConfig(k=5), interactions, coplay)
    cfg = HybridConfig(top_n=6, extra_candidates=4, item_weight=0.3, seeds_per_user=4)
    args = (interactions, users, songs, cf_topn, relation, cfg, 9)
    args += (signals if with_signals else None,)
    try:
        want = frame(hybrid.user_candidates(*args, item_topn=itemknn.recommend(None, 9)))
        got = frame(hybrid.user_candidates(*args, item_lists=True))
    finally:
        itemknn.release()
    assert (want[S.ITEM_SCORE] > 0).sum() > 1000  # the lists are in the pool
    pd.testing.assert_frame_equal(got, want)


def test_coplay_lists_are_the_item_based_models_top_n_to_the_bit():
    """Heavy rows (up to 60 played songs, many terms per sum, in no particular order, some
    repeated or unknown): :func:`pool.coplay_lists` equals ``itemknn.score_block``'s positive
    part, keys, float32 scores and order."""
    rng = np.random.default_rng(5)
    n, k, b, depth = 300, 12, 40, 25
    seed = np.repeat(np.arange(n - 20), k)  # songs 280+ have no list
    neighbour = np.concatenate([rng.choice(n, k, replace=False) for _ in range(n - 20)])
    weight = rng.random(seed.size).astype(np.float32) * rng.choice([1e-3, 1.0, 7.0], seed.size)
    kind = np.full(seed.size, pool.CO, dtype=np.int8)
    index = pool.PoolIndex.build(seed, neighbour, weight, kind, coplay_lists=True)
    played = [rng.choice(n + 10, int(rng.integers(1, 60))) for _ in range(b)]
    played[3] = np.array([], dtype=np.int64)
    lengths = np.array([len(p) for p in played])
    p_row = np.repeat(np.arange(b), lengths)
    p_song = np.concatenate(played).astype(np.int64)
    key, value = pool.coplay_lists(index, b, p_row, p_song, depth)
    nk = NeighbourIndex.build(np.arange(n + 10), seed, neighbour, weight)
    rows, song, score, _ = score_block(played, nk.matrix(), nk.song_ids, depth)
    pos = score > 0
    want = rows[pos].astype(np.int64) * (1 << 31) + song[pos]
    order = np.argsort(want, kind="stable")
    assert key.size > 10 * b
    np.testing.assert_array_equal(key, want[order])
    np.testing.assert_array_equal(value, score[pos][order])
