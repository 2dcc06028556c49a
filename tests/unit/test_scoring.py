"""Every list of an evaluation scored in one pass (recsys.evaluation.scoring): each figure
against the list-by-list metrics and the Python oracle, and the frames it keeps (a scan of a
cache that survives losing its blocks, freed by ``release``)."""

from __future__ import annotations

import random

import pytest

from recsys.evaluation import compare, scoring
from recsys.evaluation import metrics as E
from tests.unit.test_evaluation import (
    PAIRS_DDL,
    RECS_DDL,
    approx,
    pair_rows,
    random_case,
    recs_rows,
    ref_coverage,
    ref_diversity,
    ref_ranking,
)

KS = [1, 3, 10]


@pytest.fixture(scope="module")
def two_lists(spark):
    """Two random models' lists on the same held-out users, and the oracle's inputs."""
    recs_a, relevant, vectors = random_case(random.Random(11))
    recs_b, _, _ = random_case(random.Random(12))
    frames = {
        "a": spark.createDataFrame(recs_rows(recs_a), RECS_DDL),
        "b": spark.createDataFrame(recs_rows(recs_b), RECS_DDL),
    }
    held = spark.createDataFrame(pair_rows(relevant), PAIRS_DDL)
    vectors_df = spark.createDataFrame(list(vectors.items()), "song_idx int, features array<float>")
    return {"a": recs_a, "b": recs_b}, relevant, vectors, frames, held, vectors_df


def _cached_rdds(spark) -> int:
    return spark.sparkContext._jsc.getPersistentRDDs().size()


def test_one_pass_equals_the_oracle_and_the_list_by_list_figures(spark, two_lists):
    recs, relevant, vectors, frames, held, vectors_df = two_lists
    before = _cached_rdds(spark)
    scored = scoring.score_lists(frames, held, KS)
    try:
        means = scoring.means(scored)
        assert set(means) == {"a", "b"}
        for label in ("a", "b"):
            got = {key: v["mean"] for key, v in means[label].items()}
            assert got == approx(ref_ranking(recs[label], relevant, KS))
            assert {v["n_users"] for v in means[label].values()} == {len(relevant)}
        # the hybrid-style comparison of one list against every other, as the pairwise one
        pairs = scoring.paired(scored, "a", KS)
        per_a = E.per_user_ranking_metrics(frames["a"], held, KS)
        per_b = E.per_user_ranking_metrics(frames["b"], held, KS)
        expected = compare.paired_difference(per_a, per_b, KS)
        assert set(pairs) == {"b"} and set(pairs["b"]) == set(expected)
        for key, want in expected.items():
            for field in ("mean", "ci95"):
                assert pairs["b"][key][field] == pytest.approx(want[field], abs=1e-12)
            for field in ("n_users", "better", "worse"):
                assert pairs["b"][key][field] == want[field]
        users = list(relevant)
        assert scoring.coverage(scored, ["a", "b"], KS, 30) == {
            label: approx(ref_coverage(recs[label], users, KS, 30)) for label in ("a", "b")
        }
        diversity = scoring.diversity(scored, ["a", "b"], vectors_df, KS)
        for label in ("a", "b"):
            want = {k: v for k, v in ref_diversity(recs[label], users, vectors, KS).items() if v}
            assert diversity[label] == approx(want, 1e-9)
    finally:
        scored.release()
    assert _cached_rdds(spark) == before  # nothing is left cached


def test_kept_frames_scan_a_cache_and_survive_losing_its_blocks(spark, two_lists):
    """The kept frame's plan is a scan of rows (no model plan to analyse again per query); with
    its cached blocks gone (as when an executor is lost) it recomputes from the lineage instead
    of failing, which a local checkpoint cannot."""
    *_, frames, held, _ = two_lists
    deep = frames["a"].join(held, "user_idx").groupBy("user_idx").count()
    expected = sorted(deep.collect())
    kept = scoring._materialise(deep)
    plan = kept._jdf.queryExecution().analyzed().toString()
    assert "LogicalRDD" in plan and "Aggregate" not in plan and "Join" not in plan
    assert sorted(kept.collect()) == expected
    scoring._drop(kept)  # its blocks are gone
    assert sorted(kept.collect()) == expected
