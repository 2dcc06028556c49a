"""The hybrid blend in pandas: the reference the Spark hybrid job must agree with.

The viewer re-blends a user's stored candidates (``user_candidates``) live with another
alpha, novelty or artist cap; the hybrid job computes the same lists in Spark. Both follow
exactly these rules, per ``user_idx``:

1. ``a`` is the given ``alpha``, or each row's stored ``alpha`` when it is None.
2. ``blended = a * cf_score + (1 - a) * content_score``
3. ``score = (1 - novelty) * blended + novelty * (1 - popularity)``, computed in float64 from
   the stored float32 values, then rounded to float32 (the type ``score`` is stored in).
4. Order by that float32 ``score`` descending, then ``song_idx`` ascending (the tie-break),
   so re-sorting a stored table by ``(score desc, song_idx)`` reproduces its ranks.
5. If ``max_per_artist > 0``: keep a song only while its artist has fewer than
   ``max_per_artist`` songs ahead of it in that order, i.e. keep rows whose
   ``row_number() over (partition by user_idx, artist order by score desc, song_idx)`` is at
   most ``max_per_artist``. A null artist counts as its own artist for each song (never capped).
6. Keep the first ``top_n`` rows and number them ``rank`` 1..n.

In Spark: cast ``alpha``, ``cf_score``, ``content_score`` and ``popularity`` to double before
step 2 (Spark multiplies two float columns in float32), cast the score to float, and use the
window of step 5 then ``row_number() over (partition by user_idx order by score desc, song_idx)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys import schemas

_FLOAT_COLUMNS = (schemas.SCORE, schemas.CF_SCORE, schemas.CONTENT_SCORE, schemas.POPULARITY)


class BlendError(ValueError):
    """A blend parameter or the candidates table is invalid; the message names it."""


def _check_params(alpha: float | None, novelty: float, max_per_artist: int, top_n: int) -> None:
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise BlendError(f"alpha must be in [0, 1] or None, got {alpha!r}")
    if not 0.0 <= novelty <= 1.0:
        raise BlendError(f"novelty must be in [0, 1], got {novelty!r}")
    if max_per_artist < 0:
        raise BlendError(f"max_per_artist must be >= 0 (0 disables the cap), got {max_per_artist}")
    if top_n < 1:
        raise BlendError(f"top_n must be >= 1, got {top_n}")


def rerank(
    candidates: pd.DataFrame,
    alpha: float | None,
    novelty: float,
    max_per_artist: int,
    top_n: int,
) -> pd.DataFrame:
    """Re-blend and re-rank candidates per user; see the module docstring for the rules.

    Returns the kept rows with the candidates' columns, ``score``, ``alpha`` (the weight
    used) and ``rank`` replaced, sorted by ``user_idx`` then ``rank``.
    """
    _check_params(alpha, novelty, max_per_artist, top_n)
    needed = {schemas.USER, schemas.SONG, schemas.CF_SCORE, schemas.CONTENT_SCORE}
    if novelty > 0:
        needed.add(schemas.POPULARITY)
    if alpha is None:
        needed.add(schemas.ALPHA)
    if max_per_artist > 0:
        needed.add(schemas.ARTIST)
    missing = sorted(needed - set(candidates.columns))
    if missing:
        raise BlendError(f"candidates lack column(s) {', '.join(missing)}")

    out = candidates.copy()
    cf = out[schemas.CF_SCORE].to_numpy(dtype=np.float64)
    content = out[schemas.CONTENT_SCORE].to_numpy(dtype=np.float64)
    if alpha is None:
        weight = out[schemas.ALPHA].to_numpy(dtype=np.float64)
    else:
        weight = np.full(len(out), float(alpha), dtype=np.float64)
    blended = weight * cf + (1.0 - weight) * content
    if novelty > 0:
        popularity = out[schemas.POPULARITY].to_numpy(dtype=np.float64)
        score = (1.0 - novelty) * blended + novelty * (1.0 - popularity)
    else:
        score = blended
    out[schemas.SCORE] = score.astype(np.float32)
    out[schemas.ALPHA] = weight.astype(np.float32)
    out = out.sort_values(
        [schemas.USER, schemas.SCORE, schemas.SONG], ascending=[True, False, True], kind="mergesort"
    )
    if max_per_artist > 0:
        has_artist = out[schemas.ARTIST].notna()
        ahead = pd.Series(0, index=out.index)
        ahead[has_artist] = (
            out[has_artist].groupby([schemas.USER, schemas.ARTIST], sort=False).cumcount()
        )
        out = out[ahead < max_per_artist]
    rank = out.groupby(schemas.USER, sort=False).cumcount() + 1
    out = out[rank <= top_n].copy()
    out[schemas.RANK] = rank[rank <= top_n].astype(np.int32)
    out = out.reset_index(drop=True)
    columns = list(candidates.columns)
    for col in (schemas.RANK, schemas.SCORE, schemas.ALPHA):
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
