"""The two-role split (evaluation users, then validation users) against a plain-Python oracle.

Spark computes only the hashes here (xxhash64 has no Python twin); which users hide plays, how
many and which ones is decided in Python from the rule as documented, and compared with
``protocol.split``'s frames row for row.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.evaluation import protocol, split
from tests.support import make_config

DDL = "user_idx int, song_idx int, plays int"
MIN_SONGS = 4


@pytest.fixture(scope="module")
def plays(spark):
    rng = random.Random(5)
    rows = []
    for u in range(400):
        songs = rng.sample(range(60), rng.randint(1, 25))
        rows += [(u, s, rng.randint(1, 9)) for s in songs]
        if songs and u % 17 == 0:  # a duplicate (user, song) row travels with its twin
            rows.append((u, songs[0], 1))
    return rows, spark.createDataFrame(rows, DDL)


def unit(col):
    return F.shiftrightunsigned(col, 11).cast("double") / float(1 << 53)


def oracle(spark, rows, roles: list[split.Role]) -> dict[tuple[int, int], int]:
    """``{(user, song): role}`` of the hidden plays, by the documented rule."""
    df = spark.createDataFrame(sorted({(u, s) for u, s, _ in rows}), "user_idx int, song_idx int")
    cols = []
    for i, r in enumerate(roles):
        seed = F.lit(r.seed).cast("long")
        cols += [
            unit(F.xxhash64(S.USER, seed)).alias(f"u{i}"),
            F.xxhash64(S.USER, S.SONG, seed).alias(f"k{i}"),
        ]
    by_user = defaultdict(list)
    for row in df.select(S.USER, S.SONG, *cols).collect():
        by_user[row[S.USER]].append(row)
    hidden = {}
    for user, songs in by_user.items():
        if len(songs) < MIN_SONGS:
            continue
        role = next((i for i, r in enumerate(roles) if songs[0][f"u{i}"] < r.user_fraction), None)
        if role is None:
            continue
        n = len(songs)
        k = min(max(int(roles[role].play_fraction * n + 0.5), 1), n - 1)
        for row in sorted(songs, key=lambda r: (r[f"k{role}"], r[S.SONG]))[:k]:
            hidden[(user, row[S.SONG])] = role
    return hidden


def triples(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


@pytest.mark.parametrize("mode", ["fitted", "fixed"])
def test_protocol_split_matches_the_rule_role_by_role(spark, plays, tmp_path, mode):
    rows, df = plays
    cfg = make_config(
        tmp_path,
        "evaluation.holdout_user_fraction=0.3",
        "evaluation.holdout_play_fraction=0.4",
        f"evaluation.min_user_songs={MIN_SONGS}",
        "evaluation.max_users=0",
        "hybrid.fit.validation_user_fraction=0.25",
        "hybrid.fit.validation_play_fraction=0.2",
        f"hybrid.fit.mode={mode}",
    )
    ev, fit = cfg.evaluation, cfg.hybrid.fit
    roles = [split.Role(0.3, 0.4, ev.seed)]
    if mode == "fitted":
        roles.append(split.Role(0.25, 0.2, fit.seed))
    hidden = oracle(spark, rows, roles)
    assert {0, 1} <= set(hidden.values()) or mode == "fixed"
    held = protocol.split(df.repartition(3), cfg)
    try:
        by_role = defaultdict(list)
        for u, s, p in rows:
            by_role[hidden.get((u, s))].append((u, s, p))
        assert triples(held.test) == sorted(by_role[0])
        assert triples(held.train) == sorted(by_role[None] + by_role[1])
        assert {r[0] for r in held.test_users.collect()} == {
            u for (u, _), role in hidden.items() if role == 0
        }
        if mode == "fitted":
            assert triples(held.validation) == sorted(by_role[1])
            assert triples(held.fit_plays) == sorted(by_role[None])
            assert {r[0] for r in held.validation_users.collect()} == {
                u for (u, _), role in hidden.items() if role == 1
            }
        else:
            assert held.validation is None
    finally:
        held.release()
    assert not any(frame.is_cached for frame in held.cached)


def test_holdout_split_with_excluded_users_is_the_second_role(spark, plays):
    """The old two-call formulation (split, then split the train leaving the first split's
    users out) and the two-role split flag the same plays."""
    _, df = plays
    train, test = split.holdout_split(df, 0.3, 0.4, MIN_SONGS, 11)
    users = test.select(S.USER).distinct()
    fit, validation = split.holdout_split(train, 0.25, 0.2, MIN_SONGS, 3, exclude_users=users)
    flagged = split.flag_split(df, [split.Role(0.3, 0.4, 11), split.Role(0.25, 0.2, 3)], MIN_SONGS)
    cols = df.columns
    try:
        assert triples(validation) == triples(
            flagged.where(F.col(split.HIDDEN) & (F.col(split.ROLE) == 1)).select(*cols)
        )
        assert triples(fit) == triples(flagged.where(~F.col(split.HIDDEN)).select(*cols))
        assert validation.count() > 0
    finally:
        for frame in (train, test, fit, validation):
            frame.unpersist()


def test_flag_split_shuffles_the_plays_once(plays):
    _, df = plays
    flagged = split.flag_split(df, [split.Role(0.3, 0.4, 11), split.Role(0.25, 0.2, 3)], MIN_SONGS)
    plan = flagged._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Exchange") == 1, plan
