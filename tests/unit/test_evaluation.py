"""Offline evaluation: the held-out split, the metrics (by hand, against a pure-Python oracle
and against Spark's RankingEvaluator), the popularity baseline and the Markdown report."""

from __future__ import annotations

import math
import random
import re
from collections import Counter

import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys import schemas as S
from recsys.evaluation import checks, compare, report, split
from recsys.evaluation import metrics as E
from recsys.models import popularity

RECS_DDL = "user_idx int, song_idx int, rank int"
PAIRS_DDL = "user_idx int, song_idx int"
VECTORS_DDL = "song_idx int, features array<float>"
INTERACTIONS_DDL = "user_idx int, song_idx int, plays int"


# --------------------------------------------------------------------------- pure-Python oracle


def ref_ranked(recs: list[tuple[int, int]]) -> list[int]:
    """Songs of one user's (song, rank) rows in list order, each once at its best rank."""
    best: dict[int, int] = {}
    for song, rank in recs:
        best[song] = min(rank, best.get(song, rank))
    return [song for song, _ in sorted(best.items(), key=lambda kv: (kv[1], kv[0]))]


def ref_user(ranked: list[int], relevant: set[int], k: int) -> dict[str, float]:
    """precision, recall, ndcg and map@k of one ranked list, straight from the definitions."""
    hits = [song in relevant for song in ranked[:k]]
    n_hits = sum(hits)
    dcg = sum(1 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    ap, seen = 0.0, 0
    for i, hit in enumerate(hits):
        if hit:
            seen += 1
            ap += seen / (i + 1)
    return {
        "precision": n_hits / k,
        "recall": n_hits / len(relevant),
        "ndcg": dcg / idcg,
        "map": ap / min(len(relevant), k),
    }


def ref_ranking(
    recs: dict[int, list[tuple[int, int]]], relevant: dict[int, set[int]], ks: list[int]
) -> dict[str, float]:
    out = {}
    for k in ks:
        per_user = [ref_user(ref_ranked(recs.get(u, [])), rel, k) for u, rel in relevant.items()]
        for metric in S.RANKING_METRICS:
            out[f"{metric}@{k}"] = sum(m[metric] for m in per_user) / len(per_user)
    return out


def ref_coverage(recs, users, ks, catalogue_size) -> dict[str, float]:
    return {
        f"coverage@{k}": len({s for u in users for s in ref_ranked(recs.get(u, []))[:k]})
        / catalogue_size
        for k in ks
    }


def ref_diversity(recs, users, vectors, ks) -> dict[str, float | None]:
    out = {}
    for k in ks:
        scores = []
        for u in users:
            vs = [vectors[s] for s in ref_ranked(recs.get(u, []))[:k] if s in vectors]
            vs = [v for v in vs if any(x != 0 for x in v)]
            pairs = [(a, b) for i, a in enumerate(vs) for b in vs[i + 1 :]]
            if pairs:
                scores.append(sum(1 - ref_cosine(a, b) for a, b in pairs) / len(pairs))
        out[f"diversity@{k}"] = sum(scores) / len(scores) if scores else None
    return out


def ref_cosine(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


# --------------------------------------------------------------------------- data helpers


def recs_rows(recs: dict[int, list[tuple[int, int]]]) -> list[tuple[int, int, int]]:
    return [(u, s, r) for u, rows in recs.items() for s, r in rows]


def pair_rows(relevant: dict[int, set[int]]) -> list[tuple[int, int]]:
    return [(u, s) for u, songs in relevant.items() for s in songs]


def random_case(rng: random.Random, n_users: int = 40, n_songs: int = 30):
    """Random lists with rank gaps, a few duplicates, users without lists, extra users."""
    recs, relevant = {}, {}
    for u in range(n_users):
        relevant[u] = set(rng.sample(range(n_songs), rng.randint(1, 8)))
        length = rng.choice([0, 1, 3, 7, 12, 15])
        songs = rng.sample(range(n_songs), length)
        ranks = sorted(rng.sample(range(1, 60), length))
        rows = list(zip(songs, ranks, strict=True))
        if rows and rng.random() < 0.2:  # a duplicate further down the list
            rows.append((rows[0][0], ranks[-1] + 3))
        recs[u] = rows
    for u in range(n_users, n_users + 5):  # recommended-for but not evaluated
        recs[u] = [(s, i + 1) for i, s in enumerate(rng.sample(range(n_songs), 5))]
    vectors = {
        s: [float(rng.randint(-2, 2)) for _ in range(4)] for s in range(n_songs) if s % 7 != 3
    }
    vectors[0] = [0.0, 0.0, 0.0, 0.0]  # a zero vector: no direction, left out
    return recs, relevant, vectors


def approx(expected: dict, tol: float = 1e-9):
    return {k: pytest.approx(v, abs=tol) if v is not None else None for k, v in expected.items()}


# --------------------------------------------------------------------------- hand-computed


@pytest.fixture(scope="module")
def hand_case(spark):
    """Three evaluated users worked out by hand below; user 7 is not evaluated."""
    recs = spark.createDataFrame(
        [
            # user 1: ranks with a gap and a tie (11 before 12 by song id), 10 listed twice
            (1, 10, 1), (1, 11, 5), (1, 12, 5), (1, 13, 9), (1, 10, 7),
            (2, 20, 1), (2, 21, 2),
            (7, 70, 1),
        ],
        RECS_DDL,
    )  # fmt: skip
    test = spark.createDataFrame(
        [(1, 10), (1, 12), (1, 99), (2, 21), (3, 30), (7, 99)], PAIRS_DDL
    ).filter("user_idx != 7")
    return recs, test


def test_ranking_metrics_by_hand(hand_case):
    recs, test = hand_case
    got = E.ranking_metrics(recs, test, [2, 4])
    l2, l3 = math.log2(2), math.log2(3)  # discounts at positions 1 and 2: 1/log2(i + 1)
    # user 1: list 10, 11, 12, 13 against {10, 12, 99}; user 2: 20, 21 against {21};
    # user 3 has no list and scores 0 everywhere.
    expected = {
        "precision@2": (1 / 2 + 1 / 2 + 0) / 3,
        "recall@2": (1 / 3 + 1 + 0) / 3,
        "ndcg@2": ((1 / l2) / (1 / l2 + 1 / l3) + (1 / l3) / (1 / l2) + 0) / 3,
        "map@2": ((1 / 1) / 2 + (1 / 2) / 1 + 0) / 3,
        "precision@4": (2 / 4 + 1 / 4 + 0) / 3,
        "recall@4": (2 / 3 + 1 + 0) / 3,
        "ndcg@4": ((1 + 1 / 2) / (1 + 1 / l3 + 1 / 2) + (1 / l3) / 1 + 0) / 3,
        "map@4": ((1 / 1 + 2 / 3) / 3 + (1 / 2) / 1 + 0) / 3,
    }
    assert got == approx(expected)


def test_per_user_metrics_give_zero_without_recommendations(hand_case):
    recs, test = hand_case
    rows = {r.user_idx: r for r in E.per_user_ranking_metrics(recs, test, [2]).collect()}
    assert sorted(rows) == [1, 2, 3]  # evaluated users only: user 7 is not in the test set
    assert rows[3].n_relevant == 1
    assert (rows[3].precision_at_2, rows[3].ndcg_at_2, rows[3].map_at_2) == (0.0, 0.0, 0.0)
    assert rows[2].recall_at_2 == 1.0


def test_positions_follow_rank_then_song_and_count_duplicates_once(hand_case):
    recs, _ = hand_case
    top = E.top_positions(recs.filter("user_idx = 1"), 10)
    got = [r.song_idx for r in top.orderBy(E.POSITION).collect()]
    assert got == [10, 11, 12, 13]


def test_coverage_and_diversity_by_hand(spark):
    recs = spark.createDataFrame(
        [(1, 1, 1), (1, 2, 2), (1, 3, 3), (1, 4, 4), (2, 2, 1), (2, 5, 2), (3, 9, 1)], RECS_DDL
    )
    vectors = spark.createDataFrame(
        [(1, [1.0, 0.0]), (2, [0.0, 2.0]), (3, [1.0, 1.0]), (4, [0.0, 0.0]), (5, [0.0, 3.0])],
        VECTORS_DDL,
    )
    users = spark.createDataFrame([(1,), (2,)], "user_idx int")
    assert E.catalogue_coverage(recs, [2, 4], 10, users) == approx(
        {"coverage@2": 3 / 10, "coverage@4": 5 / 10}  # {1, 2, 5} and {1, 2, 3, 4, 5}
    )
    assert E.catalogue_coverage(recs, [1], 4) == approx({"coverage@1": 3 / 4})  # all users
    # user 1, top 2: orthogonal -> 1. top 4: pairs (1,2) 1, (1,3) and (2,3) 1 - 1/sqrt 2,
    # song 4 is a zero vector and drops out. user 2: parallel vectors -> 0.
    # user 3: one song without a vector -> not counted.
    one_minus = 1 - 1 / math.sqrt(2)
    assert E.intra_list_diversity(recs, vectors, [2, 4]) == approx(
        {"diversity@2": (1 + 0) / 2, "diversity@4": ((1 + 2 * one_minus) / 3 + 0) / 2}
    )


def test_diversity_is_none_when_no_list_has_two_vectors(spark):
    recs = spark.createDataFrame([(1, 1, 1), (1, 2, 2)], RECS_DDL)
    vectors = spark.createDataFrame([(1, [1.0, 0.0])], VECTORS_DDL)
    assert E.intra_list_diversity(recs, vectors, [2]) == {"diversity@2": None}


def test_bad_arguments_are_named(spark, hand_case):
    recs, test = hand_case
    with pytest.raises(E.EvaluationError, match="ks"):
        E.ranking_metrics(recs, test, [0])
    with pytest.raises(E.EvaluationError, match="rank"):
        E.ranking_metrics(recs.drop("rank"), test, [1])
    with pytest.raises(E.EvaluationError, match="held_out"):
        E.ranking_metrics(recs, test.limit(0), [1])
    with pytest.raises(E.EvaluationError, match="catalogue_size"):
        E.catalogue_coverage(recs, [1], 0)
    with pytest.raises(E.EvaluationError, match="min_user_songs"):
        split.holdout_split(test, 0.5, 0.5, 1, 0)


# --------------------------------------------------------------------------- oracle


@pytest.fixture(scope="module")
def random_frames(spark):
    recs, relevant, vectors = random_case(random.Random(20240605))
    return (
        (recs, relevant, vectors),
        spark.createDataFrame(recs_rows(recs), RECS_DDL),
        spark.createDataFrame(pair_rows(relevant), PAIRS_DDL),
        spark.createDataFrame(list(vectors.items()), VECTORS_DDL),
    )


def test_random_case_exercises_the_edges(random_frames):
    (recs, relevant, _), *_ = random_frames
    assert any(not recs[u] for u in relevant)  # users without recommendations
    assert any(len(relevant[u]) > 3 for u in relevant)  # |R| > K: MAP's min(|R|, K)
    assert any(len(rows) > len({s for s, _ in rows}) for rows in recs.values())  # duplicates


def test_metrics_match_the_python_oracle(random_frames):
    (recs, relevant, vectors), recs_df, test_df, vectors_df = random_frames
    ks = [1, 3, 5, 10]
    assert E.ranking_metrics(recs_df, test_df, ks) == approx(ref_ranking(recs, relevant, ks))
    users = list(relevant)
    users_df = test_df.select("user_idx").distinct()
    assert E.catalogue_coverage(recs_df, ks, 30, users_df) == approx(
        ref_coverage(recs, users, ks, 30)
    )
    # float32 vectors with small integer parts are exact; the closed form differs only by
    # rounding from the explicit pairwise mean.
    assert E.intra_list_diversity(recs_df, vectors_df, ks, users_df) == approx(
        ref_diversity(recs, users, vectors, ks), 1e-9
    )


def test_metrics_agree_with_spark_ranking_evaluator(random_frames):
    (_, relevant, _), recs_df, test_df, _ = random_frames
    ks = [2, 5]  # |R| runs 1..8: both sides of every K
    assert {len(r) > 5 for r in relevant.values()} == {True, False}
    ours = E.ranking_metrics(recs_df, test_df, ks)
    spark_ml = compare.ranking_evaluator_metrics(recs_df, test_df, ks)
    assert set(spark_ml) == set(ours)
    assert compare.compare_metrics(ours, spark_ml) == []


def test_spark_counts_duplicates_twice_where_we_count_once(spark):
    """The documented difference: Spark's precisionAtK on a raw list with a repeat."""
    from pyspark.ml.evaluation import RankingEvaluator

    raw = spark.createDataFrame([([1.0, 1.0, 2.0], [1.0, 3.0])], "prediction array<double>, "
                                "label array<double>")  # fmt: skip
    evaluator = RankingEvaluator(metricName="precisionAtK", k=2)
    assert evaluator.evaluate(raw) == pytest.approx(1.0)  # the repeat of 1 is a second hit
    recs = spark.createDataFrame([(1, 1, 1), (1, 1, 2), (1, 2, 3)], RECS_DDL)
    test = spark.createDataFrame([(1, 1), (1, 3)], PAIRS_DDL)
    assert E.ranking_metrics(recs, test, [2])["precision@2"] == pytest.approx(1 / 2)  # 1, 2


# --------------------------------------------------------------------------- hypothesis

user_lists = st.lists(
    st.tuples(
        st.lists(st.integers(0, 12), max_size=8, unique=True),  # ranked songs
        st.sets(st.integers(0, 12), min_size=1, max_size=6),  # relevant songs
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(user_lists, st.integers(1, 10))
def test_oracle_invariants(users, k):
    for ranked, relevant in users:
        metrics = ref_user(ranked, relevant, k)
        assert all(0.0 <= v <= 1.0 + 1e-12 for v in metrics.values())
        assert ref_user(ranked, relevant, k + 1)["recall"] >= metrics["recall"]
        perfect = ref_user(sorted(relevant), relevant, k)
        assert perfect["ndcg"] == pytest.approx(1.0) and perfect["map"] == pytest.approx(1.0)
        assert perfect["recall"] == pytest.approx(min(len(relevant), k) / len(relevant))
        assert metrics["ndcg"] <= perfect["ndcg"] + 1e-12
        # moving every hit to the front never hurts
        hits_first = [s for s in ranked if s in relevant] + [s for s in ranked if s not in relevant]
        assert ref_user(hits_first, relevant, k)["map"] >= metrics["map"] - 1e-12


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(user_lists, st.lists(st.integers(1, 9), min_size=1, max_size=3))
def test_spark_matches_oracle_on_random_small_cases(spark, users, ks):
    recs = {u: [(s, i + 1) for i, s in enumerate(ranked)] for u, (ranked, _) in enumerate(users)}
    relevant = {u: rel for u, (_, rel) in enumerate(users)}
    recs_df = spark.createDataFrame(recs_rows(recs), RECS_DDL)
    test_df = spark.createDataFrame(pair_rows(relevant), PAIRS_DDL)
    ks = sorted(set(ks))
    assert E.ranking_metrics(recs_df, test_df, ks) == approx(ref_ranking(recs, relevant, ks))


# --------------------------------------------------------------------------- split


@pytest.fixture(scope="module")
def plays(spark):
    """300 users with 1-20 songs of 80, seeded; returns (python rows, DataFrame)."""
    rng = random.Random(7)
    rows = [
        (u, s, rng.randint(1, 9))
        for u in range(300)
        for s in rng.sample(range(80), rng.randint(1, 20))
    ]
    return rows, spark.createDataFrame(rows, INTERACTIONS_DDL)


SPLIT = {"user_fraction": 0.4, "play_fraction": 0.3, "min_user_songs": 5, "seed": 11}


def as_set(df) -> set[tuple]:
    return {tuple(r) for r in df.collect()}


def test_split_partitions_the_input(plays):
    rows, df = plays
    train, test = split.holdout_split(df, **SPLIT)
    assert train.is_cached and test.is_cached
    train_rows, test_rows = as_set(train), as_set(test)
    assert train_rows.isdisjoint(test_rows)
    assert train_rows | test_rows == set(rows)
    assert train.count() + test.count() == len(rows)
    assert train.columns == df.columns == test.columns
    n_songs = Counter(u for u, _, _ in rows)
    assert {u for u, _, _ in train_rows} == set(n_songs)  # nobody loses all train plays
    hidden = Counter(u for u, _, _ in test_rows)
    assert hidden  # some users are held out
    for user, count in hidden.items():
        n = n_songs[user]
        assert n >= SPLIT["min_user_songs"]
        assert count == min(max(math.floor(SPLIT["play_fraction"] * n + 0.5), 1), n - 1)
    eligible = [u for u, n in n_songs.items() if n >= SPLIT["min_user_songs"]]
    share = len(hidden) / len(eligible)
    # binomial with ~240 users at 0.4: sd about 0.03; 0.1 is more than three of them
    assert abs(share - SPLIT["user_fraction"]) < 0.1
    train.unpersist()
    test.unpersist()


def test_split_is_deterministic_and_independent_of_partitioning(plays):
    _, df = plays
    _, test_a = split.holdout_split(df.repartition(1), **SPLIT)
    train_b, test_b = split.holdout_split(df.repartition(5, "song_idx"), **SPLIT)
    assert as_set(test_a) == as_set(test_b)
    _, test_c = split.holdout_split(df, **{**SPLIT, "seed": 12})
    assert as_set(test_c) != as_set(test_a)  # the seed matters
    for frame in (test_a, train_b, test_b, test_c):
        frame.unpersist()


def test_split_extremes(plays):
    rows, df = plays
    _, none_out = split.holdout_split(df, **{**SPLIT, "user_fraction": 0.0})
    assert none_out.count() == 0
    _, all_out = split.holdout_split(df, **{**SPLIT, "user_fraction": 1.0, "play_fraction": 1.0})
    n_songs = Counter(u for u, _, _ in rows)
    hidden = Counter(r.user_idx for r in all_out.collect())
    assert hidden == {u: n - 1 for u, n in n_songs.items() if n >= SPLIT["min_user_songs"]}


def test_the_nightly_evaluation_scores_a_seeded_sample_of_the_held_out_users(plays, tmp_path):
    from recsys.evaluation import protocol
    from tests.support import make_config

    rows, df = plays
    cfg = make_config(tmp_path, "evaluation.holdout_user_fraction=0.5", "hybrid.fit.mode=fixed")
    everyone = protocol.split(df, cfg.replace("evaluation.max_users=0"))
    all_users = {r[0] for r in everyone.test_users.collect()}
    assert everyone.sampled_from is None and len(all_users) > 40
    sampled = protocol.split(df, cfg.replace("evaluation.max_users=40"))
    again = protocol.split(df.repartition(3), cfg.replace("evaluation.max_users=40"))
    users = {r[0] for r in sampled.test_users.collect()}
    assert len(users) == 40 and users < all_users and sampled.sampled_from == len(all_users)
    assert users == {r[0] for r in again.test_users.collect()}  # the same sample every night
    # only the sample's hidden plays are scored; the others' stay hidden from training
    assert {r[0] for r in sampled.test.select(S.USER).distinct().collect()} == users
    assert as_set(sampled.train) == as_set(everyone.train)
    for held in (everyone, sampled, again):
        held.release()


# --------------------------------------------------------------------------- popularity


def test_popularity_recommender_by_hand(spark):
    # listeners: song 2 -> 3, songs 1 and 3 -> 2 (tie: 1 first), song 4 -> 1
    train = spark.createDataFrame(
        [(1, 1, 5), (1, 2, 1), (2, 2, 1), (2, 3, 1), (3, 1, 1), (3, 2, 1), (3, 3, 1), (4, 4, 9)],
        INTERACTIONS_DDL,
    )
    expected = spark.createDataFrame(
        [
            (1, 3, 2.0, 1), (1, 4, 1.0, 2),
            (2, 1, 2.0, 1), (2, 4, 1.0, 2),
            (3, 4, 1.0, 1),  # has heard everything else
            (4, 2, 3.0, 1), (4, 1, 2.0, 2),
        ],
        S.TOPN_SCHEMA,
    )  # fmt: skip
    got = popularity.popularity_recommender(train, 2)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    newcomer = spark.createDataFrame([(9,), (1,)], "user_idx int")
    got = popularity.popularity_recommender(train, 2, newcomer)
    assert {(r.user_idx, r.song_idx, r.rank) for r in got.collect()} == {
        (9, 2, 1), (9, 1, 2), (1, 3, 1), (1, 4, 2)
    }  # fmt: skip


def test_popularity_never_recommends_played_songs(plays):
    rows, df = plays
    n = 30
    got = popularity.popularity_recommender(df, n).collect()
    played = {(u, s) for u, s, _ in rows}
    assert not any((r.user_idx, r.song_idx) in played for r in got)
    catalogue = {s for _, s, _ in rows}
    lengths = Counter(r.user_idx for r in got)
    n_songs = Counter(u for u, _, _ in rows)
    assert lengths == {u: min(n, len(catalogue) - k) for u, k in n_songs.items()}


# --------------------------------------------------------------------------- evaluate_models


def test_evaluate_models_long_table(spark, random_frames):
    (recs, relevant, vectors), recs_df, test_df, vectors_df = random_frames
    perfect = test_df.withColumn("rank", test_df.song_idx)  # every held-out song, nothing else
    ks = [3, 10]
    table = E.evaluate_models(
        {"random": recs_df, "perfect": perfect}, test_df, ks, 30, vectors_df, map_tau=20
    )
    assert table.schema == S.METRICS_SCHEMA
    rows = table.collect()
    assert [r.model for r in rows][:1] == ["random"] and rows[-1].model == "perfect"
    got = {(r.model, checks.metric_key(r.metric, r.k)): r.value for r in rows}
    assert all(r.alpha is None for r in rows)
    users = list(relevant)
    expected_random = {
        **ref_ranking(recs, relevant, ks),
        "map@20": ref_ranking(recs, relevant, [20])["map@20"],
        **ref_coverage(recs, users, ks, 30),
        **ref_diversity(recs, users, vectors, ks),
    }
    assert {key: v for (m, key), v in got.items() if m == "random"} == approx(expected_random)
    perfect_got = {key: v for (m, key), v in got.items() if m == "perfect"}
    assert set(perfect_got) == set(expected_random)
    assert perfect_got["ndcg@10"] == pytest.approx(1.0) == perfect_got["map@20"]
    assert perfect_got["map@3"] == pytest.approx(1.0)
    assert perfect_got["recall@10"] > got[("random", "recall@10")]
    sweep = E.evaluate_models({"hybrid": perfect}, test_df, [3], 30, map_tau=None, alpha=0.25)
    assert {(r.model, r.metric, r.k, r.alpha) for r in sweep.collect()} == {
        ("hybrid", metric, 3, 0.25) for metric in (*S.RANKING_METRICS, S.METRIC_COVERAGE)
    }


# --------------------------------------------------------------------------- report


def test_report_markdown_table():
    rows = [
        {"model": "popularity", "metric": "ndcg", "k": 10, "value": 0.1, "alpha": None},
        {"model": "popularity", "metric": "precision", "k": 10, "value": 0.05, "alpha": None},
        {"model": "hybrid", "metric": "ndcg", "k": 10, "value": 0.3, "alpha": None},
        {"model": "hybrid", "metric": "precision", "k": 10, "value": 0.04, "alpha": None},
        {"model": "hybrid", "metric": "map", "k": 500, "value": 0.2, "alpha": None},
        {"model": "hybrid", "metric": "ndcg", "k": 2, "value": 0.25, "alpha": None},
        {"model": "hybrid", "metric": "ndcg", "k": 10, "value": 0.2, "alpha": 0.3},
    ]
    text = report.report_markdown(rows)
    lines = text.strip().splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["model", "precision@10", "ndcg@2", "ndcg@10", "map@500"]
    assert all(len(row) == len(cells[0]) for row in cells)
    assert re.fullmatch(r"\|---\|(---:\|){4}", lines[1])
    table = {row[0]: dict(zip(cells[0][1:], row[1:], strict=True)) for row in cells[2:]}
    assert list(table) == ["popularity", "hybrid", "hybrid (alpha=0.3)"]
    assert table["popularity"]["precision@10"] == "**0.0500**"
    assert table["hybrid"]["ndcg@10"] == "**0.3000**"
    assert table["hybrid (alpha=0.3)"]["ndcg@10"] == "0.2000"
    assert table["popularity"]["map@500"] == "–"
    assert table["hybrid"]["map@500"] == "0.2000"  # alone in its column: nothing to beat
    assert report.report_markdown([]).strip() == "_No metrics._"


def test_paired_difference_by_hand(spark, hand_case):
    recs, test = hand_case
    # the baseline lists only song 21 for user 2: user 1 and 3 score 0, user 2 scores 1
    baseline = spark.createDataFrame([(2, 21, 1)], RECS_DDL)
    per_user = E.per_user_ranking_metrics(recs, test, [2])
    base_per_user = E.per_user_ranking_metrics(baseline, test, [2])
    got = compare.paired_difference(per_user, base_per_user, [2], metrics=["recall"])["recall@2"]
    # per-user recall@2, model minus baseline: user 1: 1/3 - 0, user 2: 1 - 1, user 3: 0 - 0
    diffs = [1 / 3, 0.0, 0.0]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    assert got["mean"] == pytest.approx(mean)
    assert got["ci95"] == pytest.approx(1.96 * sd / math.sqrt(3))
    assert (got["n_users"], got["better"], got["worse"]) == (3, 1, 0)
    # the mean difference is the difference of the two means
    means = (
        E.ranking_metrics(recs, test, [2])["recall@2"]
        - E.ranking_metrics(baseline, test, [2])["recall@2"]
    )
    assert got["mean"] == pytest.approx(means)
    # against itself: zero, with a zero-width interval
    same = compare.paired_difference(per_user, per_user, [2])
    assert same["ndcg@2"]["mean"] == 0.0 and same["ndcg@2"]["ci95"] == 0.0
    assert set(same) == {"ndcg@2", "recall@2"}
