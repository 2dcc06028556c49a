"""recsys.ordering gives np.lexsort's order (and a stable pandas sort's), and the blocks that use
it give what their lexsort formulations gave, to the bit."""

import numpy as np
import pandas as pd
import pytest

from recsys.models import pool
from recsys.ordering import descending, ids, order_by, ranked_order

AWKWARD = np.array([0.0, -0.0, 1.5, 2.5, np.nan, -1.0, np.inf, -np.inf, 1e-300])


def scores(rng, n, trial):
    values = rng.choice(AWKWARD, n) if trial % 2 else rng.random(n).round(2)
    return values.astype(np.float32) if trial % 3 == 0 else values


@pytest.mark.parametrize("trial", range(12))
def test_order_by_is_lexsort_order(trial):
    rng = np.random.default_rng(trial)
    n = int(rng.integers(0, 4000))
    group, tie, value = rng.integers(-5, 40, n), rng.integers(0, 60, n), scores(rng, n, trial)
    position = np.arange(n)
    want = np.lexsort((position, tie, -value, group))
    got = order_by(ids(group), descending(value), ids(tie), ids(position))
    np.testing.assert_array_equal(got, want)
    # keys too wide for one int64: the positions of the low keys stand in for them
    wide = rng.integers(0, 2**40, n)
    want = np.lexsort((position, wide, -value, group))
    got = order_by(ids(group), descending(value), (wide, 2**40), ids(position))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("trial", range(6))
def test_ranked_order_on_unique_rows(trial):
    rng = np.random.default_rng(100 + trial)
    pairs = np.unique(rng.integers(0, 50 * 300, 3000))
    group, tie = np.divmod(pairs, 300)
    value = scores(rng, pairs.size, trial)
    np.testing.assert_array_equal(
        ranked_order(ids(group), value, ids(tie)), np.lexsort((tie, -value, group))
    )


def test_order_by_matches_a_stable_pandas_sort():
    rng = np.random.default_rng(7)
    n = 5000
    frame = pd.DataFrame(
        {"u": rng.integers(0, 30, n), "c": rng.random(n) < 0.2, "k": scores(rng, n, 1)}
    )
    frame["s"] = rng.integers(0, 100, n)
    want = frame.sort_values(
        ["u", "c", "k", "s"], ascending=[True, True, False, True], kind="mergesort"
    ).index.to_numpy()
    got = order_by(
        ids(frame["u"].to_numpy()),
        (frame["c"].to_numpy().astype(np.int64), 2),
        descending(frame["k"].to_numpy()),
        ids(frame["s"].to_numpy()),
        ids(np.arange(n)),
    )
    np.testing.assert_array_equal(got, want)


def test_descending_ranks_ties_signed_zeros_and_nans_together():
    rank, count = descending(np.array([1.0, np.nan, 0.0, 2.0, -0.0, np.nan, 1.0]))
    np.testing.assert_array_equal(rank, [1, 3, 2, 0, 2, 3, 1])
    assert count == 4
    assert descending(np.zeros(0))[0].size == 0


def test_order_by_refuses_a_key_that_cannot_fit():
    with pytest.raises(ValueError, match="does not fit"):
        order_by((np.zeros(3, dtype=np.int64), 2**62), ids(np.arange(3)))


def lexsort_seed_hits(index, rows, seeds, weights, played_key):
    """seed_hits_block as it was written with np.isin and a four-key np.lexsort."""
    row, song, seed, contribution, kind = pool.seed_pairs(index, rows, seeds, weights)
    key = row * pool._KEY + song
    keep = ~np.isin(key, played_key)
    key, seed, contribution, kind = key[keep], seed[keep], contribution[keep], kind[keep]
    order = np.lexsort((seed, -contribution, kind == pool.CO, key))
    key, seed, contribution, kind = key[order], seed[order], contribution[order], kind[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    is_content = kind == pool.CONTENT
    content = np.add.reduceat(np.where(is_content, contribution, 0.0), first)
    has_content = np.add.reduceat(is_content.astype(np.int64), first) > 0
    return key[first], content, has_content, seed[first]


@pytest.mark.parametrize("trial", range(8))
def test_seed_hits_block_equals_its_lexsort_formulation_to_the_bit(trial):
    rng = np.random.default_rng(200 + trial)
    songs, pairs = 60, 900
    similarity = rng.choice(np.array([0.25, 0.5, 0.75, -0.5, 1.0], dtype=np.float32), pairs)
    index = pool.PoolIndex.build(
        rng.integers(0, songs, pairs),
        rng.integers(0, songs, pairs),  # repeated neighbours of one seed, across kinds too
        similarity,
        rng.integers(0, 3, pairs),
    )
    users = 40
    lengths = rng.integers(0, 12, users)
    rows = np.repeat(np.arange(users), lengths)
    seeds = rng.integers(0, songs + 5, rows.size)  # some seeds outside the index
    weights = rng.choice(np.array([1.0, 2.0, 0.5, 3.0]), rows.size)
    played = np.unique(rows * pool._KEY + rng.integers(0, songs, rows.size))
    rng.shuffle(played)  # the played keys arrive in no order
    got = pool.seed_hits_block(index, rows, seeds, weights, played)
    want = lexsort_seed_hits(index, rows, seeds, weights, played)
    assert got.key.size > 0 and got.has_content.any() and not got.has_content.all()
    got = (got.key, got.content, got.has_content, got.reason)
    for value, expected in zip(got, want, strict=True):
        assert value.dtype == expected.dtype
        assert value.tobytes() == expected.tobytes()
