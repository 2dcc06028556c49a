"""similar_songs in one shuffle against the formulation it replaced (a full outer join per list,
then windows): the same table on random lists with overlaps, ties and negative similarities."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.models.similar import similar_songs


def joined_similar_songs(songs, cf, content, k, alpha, coplay=None, coplay_weight=0.5):
    """The formulation before the one-shuffle change (full outer joins on the pair)."""
    both = content.select(
        S.SONG, F.col(S.NEIGHBOUR).alias(S.SIMILAR), F.col(S.SIMILARITY).alias("content_sim")
    )
    for name, table in (("cf_sim", cf), ("coplay_sim", coplay)):
        if table is None:
            both = both.withColumn(name, F.lit(None).cast("float"))
            continue
        sim = F.col(S.SIMILARITY)
        if name == "coplay_sim":
            top = F.max(sim).over(Window.partitionBy(S.SONG))
            sim = F.when(top > 0, sim / top).otherwise(F.lit(0.0))
        part = table.select(S.SONG, F.col(S.NEIGHBOUR).alias(S.SIMILAR), sim.alias(name))
        both = part.join(both, [S.SONG, S.SIMILAR], "full_outer")
    cf_s = F.greatest(F.coalesce("cf_sim", F.lit(0.0)), F.lit(0.0))
    if coplay is not None:
        co_s = F.coalesce("coplay_sim", F.lit(0.0))
        cf_s = F.lit(1.0 - coplay_weight) * cf_s + F.lit(coplay_weight) * co_s
    ct_s = F.greatest(F.coalesce("content_sim", F.lit(0.0)), F.lit(0.0))
    source = F.concat_ws(
        "+",
        F.when(F.col("cf_sim").isNotNull(), F.lit("cf")),
        F.when(F.col("coplay_sim").isNotNull(), F.lit("coplay")),
        F.when(F.col("content_sim").isNotNull(), F.lit("content")),
    )
    source = F.when(source == "cf+content", F.lit("both")).otherwise(source)
    scored = both.select(
        S.SONG,
        S.SIMILAR,
        cf_s.alias(S.CF_SCORE),
        ct_s.alias(S.CONTENT_SCORE),
        (F.lit(alpha) * cf_s + F.lit(1.0 - alpha) * ct_s).alias(S.SCORE),
        source.alias(S.SOURCE),
    )
    w = Window.partitionBy(S.SONG).orderBy(F.col(S.SCORE).desc(), F.col(S.SIMILAR).asc())
    ranked = scored.withColumn(S.RANK, F.row_number().over(w)).filter(F.col(S.RANK) <= k)
    cold = songs.select(S.SONG, (F.col("n_listeners") == 0).alias(S.IS_COLD))
    return S.to_schema(ranked.join(cold, S.SONG), S.SIMILAR_SONGS_SCHEMA)


@pytest.fixture(scope="module")
def lists(spark):
    rng = np.random.default_rng(5)
    n = 60
    songs = spark.createDataFrame(
        [
            (i, f"S{i}", f"T{i}", f"a{i % 7}", f"t{i}", 1, True, int(i % 9 != 0), 2)
            for i in range(n - 3)  # the last 3 songs are not in the catalogue
        ],
        S.SONGS_SCHEMA,
    )

    def neighbours(k, low, values=None):
        rows = []
        for s in range(n):
            others = rng.choice([x for x in range(n) if x != s], size=k, replace=False)
            sims = rng.choice(values, size=k) if values is not None else rng.uniform(low, 1, k)
            order = np.argsort(-sims, kind="stable")
            rows += [(s, int(others[j]), float(sims[j]), r + 1) for r, j in enumerate(order)]
        return spark.createDataFrame(rows, S.NEIGHBOURS_SCHEMA)

    # overlapping lists of 12 of 59 others; ties (a few distinct values), negatives, zeros
    return (
        songs,
        neighbours(12, -0.5),
        neighbours(12, 0.0, np.array([0.25, 0.5, 0.75])),
        neighbours(12, 0.0, np.array([0.0, 0.0, 0.3, 0.6])),
    )


def rows(frame):
    return sorted(tuple(r) for r in frame.collect())


@pytest.mark.parametrize("with_coplay", [False, True])
@pytest.mark.parametrize("with_cf", [False, True])
def test_one_shuffle_equals_the_joins(lists, with_cf, with_coplay):
    songs, cf, content, coplay = lists
    args = (songs, cf if with_cf else None, content, 8, 0.6)
    weight = {"coplay_weight": 0.3}
    got = similar_songs(*args, coplay_neighbours=coplay if with_coplay else None, **weight)
    want = joined_similar_songs(*args, coplay=coplay if with_coplay else None, **weight)
    assert rows(got) == rows(want)  # exact: same values, ranks, sources and cold flags
    assert got.count() > 8 * 50 and {r[S.SONG] for r in got.collect()} <= set(range(57))
    if with_cf and with_coplay:
        sources = {r[S.SOURCE] for r in got.collect()}
        assert len(sources) >= 4 and any("coplay" in x for x in sources)


def test_the_lists_are_shuffled_once_by_song(lists):
    songs, cf, content, coplay = lists
    got = similar_songs(songs, cf, content, 8, 0.6, coplay_neighbours=coplay)
    want = joined_similar_songs(songs, cf, content, 8, 0.6, coplay=coplay)

    def exchanges(frame):
        plan = frame._jdf.queryExecution().executedPlan().toString()
        return [line for line in plan.splitlines() if "Exchange hashpartitioning" in line]

    mine, before = exchanges(got), exchanges(want)
    assert any(f"{S.SIMILAR}#" in line for line in before)  # the joins shuffled by pair
    assert not any(f"{S.SIMILAR}#" in line for line in mine)
    assert len(mine) == 2 < len(before)  # the lists by song; the catalogue's cold flags
    assert all(f"({S.SONG}#" in line for line in mine)
