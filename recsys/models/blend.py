"""The hybrid blend in pandas: the reference the Spark hybrid job must agree with.

The viewer re-blends a user's stored candidates (``user_candidates``) live with another
alpha, novelty or artist cap; the hybrid job computes the same lists in Spark. Both follow
exactly these rules, per ``user_idx``:

1. ``a`` is the given ``alpha``, or each row's stored ``alpha`` when it is None.
2. ``collaborative = (1 - w_item - w_pop) * cf_score + w_item * item_score + w_pop *
   popularity`` (``item_weight`` and ``popularity_weight``; both 0 leave ``cf_score``, the ALS
   score; a missing ``item_score`` column, as in runs before the item-based model, counts 0),
   then ``blended = a * collaborative + (1 - a) * content_score * popularity ** gamma`` where
   ``gamma`` is ``popularity_exponent`` (0 gives the plain blend; ``0 ** 0`` is 1). The
   content score says how close a song is to what the user played; weighting it by the
   song's popularity makes it an estimate of a play rather than of a resemblance (lyrics alone
   say nothing about which of two similar songs people actually play).
3. ``score = (1 - novelty) * blended + novelty * (1 - popularity)``, computed in float64 from
   the stored float32 values, then rounded to float32 (the type ``score`` is stored in).
4. A row is *cold* when its ``popularity`` is 0 (nobody played the song). Order warm rows by
   the float32 ``score`` descending, then ``song_idx`` ascending (the tie-break), then cold
   rows by ``content_score`` descending, then ``song_idx``.
5. If ``max_per_artist > 0``: keep a song only while its artist has fewer than
   ``max_per_artist`` songs ahead of it in that order, i.e. keep rows whose
   ``row_number() over (partition by user_idx, artist order by <step 4>)`` is at most
   ``max_per_artist``. A null artist counts as its own artist for each song (never capped).
6. ``c = min(cold_slots, cold rows left)``: keep the first ``top_n - c`` warm rows and the
   first ``c`` cold rows, number them ``rank`` 1..n in the order of step 4 (so cold songs take
   the last ``c`` places of the list: they reach every user with content near their taste,
   without pushing out songs people play).

In Spark: cast ``alpha``, ``cf_score``, ``content_score``, ``item_score`` and ``popularity``
to double before step 2 (Spark multiplies two float columns in float32), cast the score to
float, and use windows over the order of step 4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys import names
from recsys.errors import BlendError
from recsys.ordering import descending, ids, order_by

_FLOAT_COLUMNS = (
    names.SCORE,
    names.CF_SCORE,
    names.CONTENT_SCORE,
    names.ITEM_SCORE,
    names.POPULARITY,
)


def _check_params(
    alpha: float | None,
    novelty: float,
    max_per_artist: int,
    top_n: int,
    popularity_exponent: float,
    cold_slots: int,
    item_weight: float = 0.0,
    popularity_weight: float = 0.0,
) -> None:
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise BlendError(f"alpha must be in [0, 1] or None, got {alpha!r}")
    if not 0.0 <= novelty <= 1.0:
        raise BlendError(f"novelty must be in [0, 1], got {novelty!r}")
    if max_per_artist < 0:
        raise BlendError(f"max_per_artist must be >= 0 (0 disables the cap), got {max_per_artist}")
    if top_n < 1:
        raise BlendError(f"top_n must be >= 1, got {top_n}")
    if not popularity_exponent >= 0.0:
        raise BlendError(f"popularity_exponent must be >= 0, got {popularity_exponent!r}")
    if cold_slots < 0:
        raise BlendError(f"cold_slots must be >= 0, got {cold_slots}")
    if not (
        0.0 <= item_weight and 0.0 <= popularity_weight and item_weight + popularity_weight <= 1.0
    ):
        raise BlendError(
            "item_weight and popularity_weight must be >= 0 with a sum of at most 1, got "
            f"{item_weight!r} and {popularity_weight!r}"
        )


def blend_scores(
    cf: np.ndarray,
    content: np.ndarray,
    popularity: np.ndarray,
    weight: np.ndarray,
    novelty: float,
    popularity_exponent: float,
    item: np.ndarray | None = None,
    item_weight: float = 0.0,
    popularity_weight: float = 0.0,
) -> np.ndarray:
    """Steps 2 and 3 in float64; the caller rounds to float32."""
    prior = np.power(popularity, popularity_exponent)
    item = np.zeros_like(cf) if item is None else item
    collaborative = (1.0 - item_weight - popularity_weight) * cf + item_weight * item
    collaborative = collaborative + popularity_weight * popularity
    blended = weight * collaborative + (1.0 - weight) * (content * prior)
    return (1.0 - novelty) * blended + novelty * (1.0 - popularity)


def _blend_frame(
    out: pd.DataFrame,
    alpha: float | None,
    novelty: float,
    popularity_exponent: float,
    item_weight: float,
    popularity_weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-3 over a candidates frame: (the alpha used, popularity, float64 score)."""
    cf = out[names.CF_SCORE].to_numpy(dtype=np.float64)
    content = out[names.CONTENT_SCORE].to_numpy(dtype=np.float64)
    if alpha is None:
        weight = out[names.ALPHA].to_numpy(dtype=np.float64)
    else:
        weight = np.full(len(out), float(alpha), dtype=np.float64)
    if names.POPULARITY in out.columns:
        popularity = out[names.POPULARITY].fillna(0.0).to_numpy(dtype=np.float64)
    else:
        popularity = np.ones(len(out), dtype=np.float64)
    item = (
        out[names.ITEM_SCORE].fillna(0.0).to_numpy(dtype=np.float64)
        if names.ITEM_SCORE in out.columns
        else None
    )
    score = blend_scores(
        cf,
        content,
        popularity,
        weight,
        novelty,
        popularity_exponent,
        item,
        item_weight,
        popularity_weight,
    )
    return weight, popularity, score


def rerank(
    candidates: pd.DataFrame,
    alpha: float | None,
    novelty: float,
    max_per_artist: int,
    top_n: int,
    popularity_exponent: float = 0.0,
    cold_slots: int = 0,
    item_weight: float = 0.0,
    popularity_weight: float = 0.0,
) -> pd.DataFrame:
    """Re-blend and re-rank candidates per user; see the module docstring for the rules.

    Returns the kept rows with the candidates' columns, ``score``, ``alpha`` (the weight
    used) and ``rank`` replaced, sorted by ``user_idx`` then ``rank``. Without a
    ``popularity`` column every row counts as warm (and ``popularity_exponent`` and
    ``novelty`` must be 0).
    """
    _check_params(
        alpha,
        novelty,
        max_per_artist,
        top_n,
        popularity_exponent,
        cold_slots,
        item_weight,
        popularity_weight,
    )
    needed = {names.USER, names.SONG, names.CF_SCORE, names.CONTENT_SCORE}
    if novelty > 0 or popularity_exponent > 0 or cold_slots > 0 or popularity_weight > 0:
        needed.add(names.POPULARITY)
    if alpha is None:
        needed.add(names.ALPHA)
    if max_per_artist > 0:
        needed.add(names.ARTIST)
    missing = sorted(needed - set(candidates.columns))
    if missing:
        raise BlendError(f"candidates lack column(s) {', '.join(missing)}")

    out = candidates.copy()
    weight, popularity, score = _blend_frame(
        out, alpha, novelty, popularity_exponent, item_weight, popularity_weight
    )
    out[names.SCORE] = score.astype(np.float32)
    out[names.ALPHA] = weight.astype(np.float32)
    cold = popularity <= 0.0
    out["_cold"] = cold
    out["_key"] = np.where(cold, out[names.CONTENT_SCORE].to_numpy(np.float32), out[names.SCORE])
    # by user, warm first, key descending, song, then input order (a stable sort), as one
    # argsort of packed keys (recsys.ordering)
    order = order_by(
        ids(out[names.USER].to_numpy()),
        (cold.astype(np.int64), 2),
        descending(out["_key"].to_numpy()),
        ids(out[names.SONG].to_numpy()),
        ids(np.arange(len(out), dtype=np.int64)),
    )
    out = out.iloc[order]
    if max_per_artist > 0:
        has_artist = out[names.ARTIST].notna()
        ahead = pd.Series(0, index=out.index)
        ahead[has_artist] = (
            out[has_artist].groupby([names.USER, names.ARTIST], sort=False).cumcount()
        )
        out = out[ahead < max_per_artist]
    part_rank = out.groupby([names.USER, "_cold"], sort=False).cumcount() + 1
    n_cold = out["_cold"].groupby(out[names.USER], sort=False).transform("sum")
    c = np.minimum(n_cold.to_numpy(), cold_slots)
    is_cold = out["_cold"].to_numpy()
    keep = np.where(is_cold, part_rank <= c, part_rank <= top_n - c)
    out = out[keep].copy()
    out[names.RANK] = (out.groupby(names.USER, sort=False).cumcount() + 1).astype(np.int32)
    out = out.reset_index(drop=True)
    columns = list(candidates.columns)
    for col in (names.RANK, names.SCORE, names.ALPHA):
        if col not in columns:
            columns.append(col)
    return out[columns]


def alpha_for_plays(
    n_songs: float | Sequence[float] | np.ndarray,
    curve: Sequence[Sequence[float]],
    default: float,
) -> float | np.ndarray:
    """The cf weight for a user who played ``n_songs`` distinct songs.

    Piecewise-linear over ``curve`` points ``[[songs_played, alpha], ...]`` (sorted by
    songs_played), clamped to the first/last alpha outside their range; ``default`` when the
    curve is empty. Exactly: take the last point ``i`` with ``x_i <= n``; none -> ``y_0``;
    ``i`` last -> ``y_i``; else ``y_i + (y_{i+1} - y_i) * (n - x_i) / (x_{i+1} - x_i)``
    (so with repeated ``x`` the later point wins at that ``x``). Scalars in, float out;
    arrays in, arrays out.
    """
    scalar = np.ndim(n_songs) == 0
    n = np.asarray(n_songs, dtype=np.float64)
    if len(curve) == 0:
        out = np.full(n.shape, float(default))
        return float(out) if scalar else out
    points = sorted(((float(x), float(y)) for x, y in curve), key=lambda p: p[0])
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    i = np.searchsorted(xs, n, side="right") - 1  # last point with x_i <= n, -1 if none
    last = len(xs) - 1
    lo = np.clip(i, 0, last)
    hi = np.clip(i + 1, 0, last)
    span = xs[hi] - xs[lo]
    frac = np.divide(n - xs[lo], span, out=np.zeros_like(n), where=span > 0)
    out = ys[lo] + (ys[hi] - ys[lo]) * frac
    out = np.where(i < 0, ys[0], np.where(i >= last, ys[last], out))
    return float(out) if scalar else out
