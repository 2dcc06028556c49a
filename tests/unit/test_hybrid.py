"""Blending, normalisation, diversity and cold songs in the hybrid, on hand-made tables."""

import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.config import HybridConfig
from recsys.models import candidates as candidates_mod
from recsys.models import hybrid

POOL_SCHEMA = (
    "user_idx int, song_idx int, cf_score float, content_score float, popularity float, "
    "alpha float, artist string, reason_song_idx int"
)


def pool(spark):
    rows = [
        # user 0: a strong cf song, a strong content song, a mixed one; two by artist A
        (0, 10, 1.0, 0.0, 0.9, 0.5, "A", None),
        (0, 11, 0.0, 1.0, 0.1, 0.5, "B", 3),
        (0, 12, 0.6, 0.6, 0.5, 0.5, "A", 3),
        (0, 13, 0.2, 0.1, 0.5, 0.5, None, None),
        (1, 10, 0.5, 0.5, 0.9, 0.8, "A", None),
    ]
    return spark.createDataFrame(rows, POOL_SCHEMA)


def ranked(df, user=0):
    return [r[S.SONG] for r in df.filter(F.col(S.USER) == user).orderBy(S.RANK).collect()]


def test_blend_order_follows_alpha(spark):
    # alpha 0.5: 12 -> 0.6, 10 -> 0.5, 11 -> 0.5 (tie: smaller id first), 13 -> 0.15
    assert ranked(hybrid.rank_candidates(pool(spark), 0.0, 0, 10)) == [12, 10, 11, 13]
    # alpha 1: pure collaborative order; alpha 0: pure content order
    assert ranked(hybrid.rank_candidates(pool(spark), 0.0, 0, 10, alpha=1.0)) == [10, 12, 13, 11]
    assert ranked(hybrid.rank_candidates(pool(spark), 0.0, 0, 10, alpha=0.0)) == [11, 12, 13, 10]
    scores = {
        r[S.SONG]: r[S.SCORE]
        for r in hybrid.rank_candidates(pool(spark), 0.0, 0, 10).filter("user_idx = 0").collect()
    }
    assert scores == pytest.approx({10: 0.5, 11: 0.5, 12: 0.6, 13: 0.15})


def test_novelty_and_artist_cap_and_top_n(spark):
    # novelty 1 orders by unpopularity alone
    assert ranked(hybrid.rank_candidates(pool(spark), 1.0, 0, 10)) == [11, 12, 13, 10]
    # at most one song per artist: 10 (artist A) drops behind 12 (artist A); null artist kept
    capped = hybrid.rank_candidates(pool(spark), 0.0, 1, 10)
    assert ranked(capped) == [12, 11, 13]
    assert ranked(hybrid.rank_candidates(pool(spark), 0.0, 0, 2)) == [12, 10]
    assert ranked(capped, user=1) == [10]


def test_popularity_exponent_weights_content_by_hand(spark):
    # user 0 at alpha 0.5, gamma 2: 10 -> 0.5*1 + 0.5*0*0.81 = 0.5; 11 -> 0.5*1*0.01 = 0.005;
    # 12 -> 0.3 + 0.3*0.25 = 0.375; 13 -> 0.1 + 0.05*0.25 = 0.1125
    got = hybrid.rank_candidates(pool(spark), 0.0, 0, 10, popularity_exponent=2.0)
    scores = {r[S.SONG]: r[S.SCORE] for r in got.filter("user_idx = 0").collect()}
    assert scores == pytest.approx({10: 0.5, 11: 0.005, 12: 0.375, 13: 0.1125}, rel=1e-6)
    assert ranked(got) == [10, 12, 13, 11]
    # gamma 0 is the plain blend
    plain = hybrid.rank_candidates(pool(spark), 0.0, 0, 10, popularity_exponent=0.0)
    assert ranked(plain) == [12, 10, 11, 13]


def cold_pool(spark):
    rows = [
        # user 0: three warm songs, three cold ones (popularity 0) of which two by artist C
        (0, 1, 0.9, 0.1, 0.5, 0.5, "A", None),
        (0, 2, 0.5, 0.6, 0.5, 0.5, "B", None),
        (0, 3, 0.1, 0.2, 0.5, 0.5, "C", None),
        (0, 7, 0.0, 0.9, 0.0, 0.5, "C", None),
        (0, 8, 0.0, 0.4, 0.0, 0.5, "D", None),
        (0, 9, 0.0, 1.0, 0.0, 0.5, "C", None),
        # user 1: warm songs only
        (1, 1, 0.2, 0.0, 0.5, 0.5, "A", None),
        (1, 2, 0.3, 0.0, 0.5, 0.5, "B", None),
    ]
    return spark.createDataFrame(rows, POOL_SCHEMA)


@pytest.mark.parametrize(
    "slots, cap, top_n, expected0",
    [
        (0, 0, 4, [2, 1, 3]),  # no slots: cold songs never appear
        (1, 0, 4, [2, 1, 3, 9]),  # one slot: the nearest cold song, last
        (2, 0, 4, [2, 1, 9, 7]),  # two slots push the weakest warm song out
        (2, 0, 2, [9, 7]),  # slots take the last places even of a short list
        (5, 0, 10, [2, 1, 3, 9, 7, 8]),  # fewer cold songs than slots: all of them
        (2, 1, 4, [2, 1, 3, 8]),  # artist cap first: 9 and 7 (artist C) lose to warm 3
    ],
)
def test_cold_slots_take_the_last_places(spark, slots, cap, top_n, expected0):
    got = hybrid.rank_candidates(cold_pool(spark), 0.0, cap, top_n, cold_slots=slots)
    assert ranked(got) == expected0
    assert [r[S.RANK] for r in got.filter("user_idx = 0").orderBy(S.RANK).collect()] == list(
        range(1, len(expected0) + 1)
    )
    assert ranked(got, user=1) == [2, 1][:top_n]


def recommend(interactions, users, songs, cf_topn, relation, cfg, signals=None):
    """The hybrid step's two tables from hand-made model outputs."""
    depth = hybrid.pool_size(cfg, cfg.top_n)
    pool = hybrid.user_candidates(
        interactions, users, songs, cf_topn, relation, cfg, depth, signals
    )
    return hybrid.ranked_tables(pool, songs, cfg)


def tables(spark):
    # users 0 and 1 played songs 0..2; song 5 is cold (no plays) and only content reaches it
    interactions = spark.createDataFrame(
        [(0, 0, 5), (0, 1, 1), (1, 2, 3), (1, 0, 1)], S.INTERACTIONS_SCHEMA
    )
    users = spark.createDataFrame([(0, "u0", 2, 6), (1, "u1", 2, 4)], S.USERS_SCHEMA)
    songs = spark.createDataFrame(
        [
            (i, f"S{i}", f"T{i}", f"artist{i % 2}", f"title{i}", 1, True, lis, lis * 2)
            for i, lis in [(0, 2), (1, 1), (2, 1), (3, 1), (4, 1), (5, 0), (6, 1)]
        ],
        S.SONGS_SCHEMA,
    )
    cf_topn = spark.createDataFrame(
        [(0, 2, 0.9, 1), (0, 3, 0.5, 2), (1, 1, 0.7, 1), (1, 3, 0.2, 2), (1, 6, 0.1, 3)],
        S.TOPN_SCHEMA,
    )
    content_nbrs = spark.createDataFrame(
        [(0, 5, 0.9, 1), (0, 1, 0.8, 2), (1, 4, 0.5, 1), (2, 4, 0.6, 1), (2, 0, 0.4, 2)],
        S.NEIGHBOURS_SCHEMA,
    )
    cf_nbrs = spark.createDataFrame([(0, 3, 0.7, 1), (2, 3, 0.9, 1)], S.NEIGHBOURS_SCHEMA)
    return interactions, users, songs, cf_topn, content_nbrs, cf_nbrs


def test_recommendations_exclude_played_reach_cold_songs_and_normalise(spark):
    interactions, users, songs, cf_topn, content_nbrs, cf_nbrs = tables(spark)
    cfg = HybridConfig(top_n=3, extra_candidates=3, alpha=0.5, alpha_curve=[])
    relation = candidates_mod.neighbour_relation(cf_nbrs, content_nbrs)
    candidates, recs = recommend(interactions, users, songs, cf_topn, relation, cfg)
    rows = candidates.collect()
    played = {(r[S.USER], r[S.SONG]) for r in interactions.collect()}
    assert not played & {(r[S.USER], r[S.SONG]) for r in rows}
    assert not played & {(r[S.USER], r[S.SONG]) for r in recs.collect()}
    by_user = {}
    for r in rows:
        by_user.setdefault(r[S.USER], {})[r[S.SONG]] = r
    # user 0: cf gives 2 (0.9) and 3 (0.5) -> normalised 1 and 0; content reaches cold song 5
    # (0.9 * log(6)) and 4 via song 1 (0.5 * log(2)) -> normalised 1 and 0
    u0 = by_user[0]
    assert set(u0) == {2, 3, 4, 5}
    assert (u0[2][S.CF_SCORE], u0[3][S.CF_SCORE]) == (1.0, 0.0)
    assert (u0[5][S.CONTENT_SCORE], u0[4][S.CONTENT_SCORE]) == (1.0, 0.0)
    # the cold song has no collaborative evidence and no popularity
    assert u0[5][S.CF_SCORE] == 0.0 and u0[5][S.POPULARITY] == 0.0
    assert u0[2][S.CONTENT_SCORE] == 0.0
    # reasons name the played song that led there; cf-only songs without a seed say so
    assert u0[5][S.REASON_SONG] == 0 and u0[5][S.REASON] == "because you played artist0 - title0"
    assert u0[3][S.REASON_SONG] == 0  # reached through song 0's collaborative neighbour
    assert by_user[1][6][S.REASON] == "listeners with your taste play it"
    assert all(0.0 <= r[S.CF_SCORE] <= 1.0 and 0.0 <= r[S.CONTENT_SCORE] <= 1.0 for r in rows)
    # the cold song reaches user 0's top 3 through a cold slot: the last place
    assert cfg.cold_slots >= 1
    top = recs.filter("user_idx = 0").orderBy(S.RANK).collect()
    assert [r[S.SONG] for r in top][-1] == 5 and len(top) == 3
    no_slots = HybridConfig(top_n=3, extra_candidates=3, alpha=0.5, alpha_curve=[], cold_slots=0)
    _, plain = recommend(interactions, users, songs, cf_topn, relation, no_slots)
    assert 5 not in [r[S.SONG] for r in plain.collect()]
    assert recs.groupBy(S.USER).count().agg(F.max("count")).first()[0] <= 3


def test_similar_songs_mark_sources_and_cold(spark):
    interactions, users, songs, cf_topn, content_nbrs, cf_nbrs = tables(spark)
    both = spark.createDataFrame([(0, 1, 0.5, 1)], S.NEIGHBOURS_SCHEMA).unionByName(cf_nbrs)
    similar = hybrid.similar_songs(songs, both, content_nbrs, k=5, alpha=0.5)
    got = {(r[S.SONG], r[S.SIMILAR]): r for r in similar.collect()}
    assert got[(0, 1)][S.SOURCE] == "both"
    assert got[(0, 1)][S.SCORE] == pytest.approx(0.5 * 0.5 + 0.5 * 0.8)
    assert got[(0, 3)][S.SOURCE] == "cf" and got[(0, 5)][S.SOURCE] == "content"
    assert [r[S.SIMILAR] for r in similar.filter("song_idx = 0").orderBy(S.RANK).collect()] == [
        1,
        5,
        3,
    ]
    assert got[(2, 3)][S.IS_COLD] is False
    cold = songs.filter("song_idx = 5")
    cold_similar = hybrid.similar_songs(
        cold, None, spark.createDataFrame([(5, 0, 0.9, 1)], S.NEIGHBOURS_SCHEMA), 5, 0.5
    ).first()
    assert cold_similar[S.IS_COLD] is True and cold_similar[S.SOURCE] == "content"


def test_signals_score_every_candidate_by_both_models(spark):
    interactions, users, songs, cf_topn, content_nbrs, cf_nbrs = tables(spark)
    cfg = HybridConfig(top_n=3, extra_candidates=3, alpha=0.5, alpha_curve=[])
    relation = candidates_mod.neighbour_relation(cf_nbrs, content_nbrs)
    vec = S.FACTORS_SCHEMA[S.ITEM_FACTORS]
    # user 0 points along x; song 5 (cold: no factor) and song 4 differ only in content
    signals = hybrid.Signals(
        spark.createDataFrame([(0, [1.0, 0.0]), (1, [0.0, 1.0])], S.FACTORS_SCHEMA[S.USER_FACTORS]),
        spark.createDataFrame(
            [(2, [0.9, 0.1]), (3, [0.2, 0.9]), (4, [0.5, 0.5]), (1, [0.0, 1.0]), (6, [0.1, 0.0])],
            vec,
        ),
        spark.createDataFrame(
            [
                (0, [1.0, 0.0]),
                (1, [0.0, 1.0]),
                (2, [0.0, 1.0]),
                (3, [1.0, 0.0]),
                (4, [0.6, 0.8]),
                (5, [1.0, 0.0]),
                (6, [0.0, 1.0]),
            ],
            vec,
        ),
    )
    candidates, _ = recommend(interactions, users, songs, cf_topn, relation, cfg, signals)
    u0 = {r[S.SONG]: r for r in candidates.filter("user_idx = 0").collect()}
    # cf dot products for user 0: 2 -> 0.9, 4 -> 0.5, 3 -> 0.2, cold 5 -> none (0)
    assert u0[2][S.CF_SCORE] == 1.0 and u0[3][S.CF_SCORE] == 0.0
    assert u0[4][S.CF_SCORE] == pytest.approx((0.5 - 0.2) / (0.9 - 0.2))
    assert u0[5][S.CF_SCORE] == 0.0
    # user 0 played 0 (x axis, 5 plays) and 1 (y axis, 1 play): the profile leans to x, so
    # content ranks 3 and 5 (x) first, then 4, then 2 (y)
    assert u0[3][S.CONTENT_SCORE] == u0[5][S.CONTENT_SCORE] == 1.0
    assert u0[2][S.CONTENT_SCORE] == 0.0
    assert 0.0 < u0[4][S.CONTENT_SCORE] < 1.0


def test_item_based_lists_join_the_pool_with_their_score_and_a_co_play_reason(spark):
    interactions, users, songs, cf_topn, content_nbrs, cf_nbrs = tables(spark)
    # co-play neighbours: song 1 -> 6 (user 0 played 1; only co-plays reach 6 for user 0)
    # and 0 -> 4 (content already reaches 4 from song 1: its reason must stay song 1)
    coplay = spark.createDataFrame([(1, 6, 0.8, 1), (0, 4, 0.3, 1)], S.NEIGHBOURS_SCHEMA)
    relation = candidates_mod.neighbour_relation(cf_nbrs, content_nbrs, coplay)
    item_topn = spark.createDataFrame(
        # the item-based model's own list for user 0; a zero score is a fill, not evidence
        [(0, 6, 0.8, 1), (0, 4, 0.3, 2), (0, 3, 0.0, 3)],
        S.TOPN_SCHEMA,
    )
    cfg = HybridConfig(
        top_n=3, extra_candidates=3, alpha=1.0, alpha_curve=[], item_weight=0.6, cold_slots=0
    )
    depth = hybrid.pool_size(cfg, cfg.top_n)
    pool = hybrid.user_candidates(
        interactions, users, songs, cf_topn, relation, cfg, depth, item_topn=item_topn
    )
    u0 = {r[S.SONG]: r for r in pool.filter("user_idx = 0").collect()}
    assert set(u0) == {2, 3, 4, 5, 6}  # 6 enters through the item-based list
    assert (u0[6][S.ITEM_SCORE], u0[4][S.ITEM_SCORE]) == (1.0, 0.0)  # min-max of 0.8, 0.3
    assert u0[3][S.ITEM_SCORE] == 0.0 and u0[2][S.ITEM_SCORE] == 0.0
    assert u0[6][S.REASON_SONG] == 1  # the played song whose co-play neighbour it is
    assert u0[4][S.REASON_SONG] == 1  # content's reason (song 1), not the co-play one (0)
    _, recs = hybrid.ranked_tables(pool, songs, cfg)
    # alpha 1: 0.4 * cf + 0.6 * item; song 6 (no ALS score) 0.6 beats song 3 (cf 0 -> 0)
    top = recs.filter("user_idx = 0").orderBy(S.RANK).collect()
    assert [r[S.SONG] for r in top] == [6, 2, 3]
    assert top[0][S.SCORE] == pytest.approx(0.6) and top[1][S.SCORE] == pytest.approx(0.4)
    assert top[0][S.REASON] == "because you played artist1 - title1"
    # without the item-based model's share its list still scores but does not move ALS's
    plain = HybridConfig(top_n=3, extra_candidates=3, alpha=1.0, alpha_curve=[], cold_slots=0)
    _, als_only = hybrid.ranked_tables(pool, songs, plain)
    assert [r[S.SONG] for r in als_only.filter("user_idx = 0").orderBy(S.RANK).collect()][:2] == [
        2,
        3,
    ]


def test_similar_songs_blend_co_plays_normalised_by_the_songs_best(spark):
    interactions, users, songs, cf_topn, content_nbrs, cf_nbrs = tables(spark)
    coplay = spark.createDataFrame(
        [(0, 3, 0.2, 1), (0, 6, 0.1, 2), (2, 3, 0.05, 1)], S.NEIGHBOURS_SCHEMA
    )
    similar = hybrid.similar_songs(
        songs, cf_nbrs, content_nbrs, k=5, alpha=0.5, coplay_neighbours=coplay, coplay_weight=0.5
    )
    got = {(r[S.SONG], r[S.SIMILAR]): r for r in similar.collect()}
    # 0 -> 3: ALS 0.7 and co-plays 0.2 / 0.2 = 1 -> collaborative 0.85, no content
    assert got[(0, 3)][S.SOURCE] == "cf+coplay"
    assert got[(0, 3)][S.CF_SCORE] == pytest.approx(0.85)
    assert got[(0, 3)][S.SCORE] == pytest.approx(0.5 * 0.85)
    # 0 -> 6: co-plays only, 0.1 / 0.2
    assert got[(0, 6)][S.SOURCE] == "coplay"
    assert got[(0, 6)][S.CF_SCORE] == pytest.approx(0.5 * 0.5)
    assert got[(0, 5)][S.SOURCE] == "content"
    # 2 -> 3: the song's own best co-play is 1 however small (0.05)
    assert got[(2, 3)][S.CF_SCORE] == pytest.approx(0.5 * 0.9 + 0.5 * 1.0)
    # without co-plays the table is what it was: ALS alone, old source names
    before = hybrid.similar_songs(songs, cf_nbrs, content_nbrs, k=5, alpha=0.5)
    assert {r[S.SOURCE] for r in before.collect()} <= {"cf", "content", "both"}
