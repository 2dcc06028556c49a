"""Drawing items from many weighted segments at once by one inverse CDF."""

from __future__ import annotations

import numpy as np


class InverseCdf:
    """Exact ``searchsorted(cdf, v, "right")`` for many ``v``, sped up by a bucket table.

    ``cdf`` holds consecutive segments, segment ``s`` rising from ``s`` to ``s + 1``, so
    ``pick(s + u)`` with ``u`` uniform in ``[0, 1)`` draws an item of segment ``s``.
    """

    def __init__(self, cdf: np.ndarray, buckets: int) -> None:
        self.cdf = cdf
        self.k = buckets
        n_seg = int(round(cdf[-1]))
        self.grid = np.arange(n_seg * buckets + 1, dtype=np.float64) / buckets
        self.table = np.searchsorted(cdf, self.grid, side="right").astype(np.int32)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        b = np.minimum((v * self.k).astype(np.int64), self.grid.size - 2)
        lo, hi = self.table[b], self.table[b + 1]
        out = lo.astype(np.int64)
        odd = np.flatnonzero((lo != hi) | (v < self.grid[b]) | (v >= self.grid[b + 1]))
        out[odd] = np.searchsorted(self.cdf, v[odd], side="right")
        return out


def segment_cdf(
    items: np.ndarray, segment: np.ndarray, weight: np.ndarray, n_segments: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items grouped by segment, the cumulative weight share within each segment offset by the
    segment number (for :class:`InverseCdf`), and the item count per segment.

    An empty segment gets one zero-width step so the CDF stays monotone; callers must not draw
    from it (its count is 0).
    """
    order = np.lexsort((items, segment))
    items, segment, weight = items[order], segment[order], weight[order]
    counts = np.bincount(segment, minlength=n_segments)
    cum = np.cumsum(weight)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    end = start + counts - 1
    base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    totals = np.where(counts > 0, cum[np.maximum(end, 0)] - base, 1.0)
    cdf = segment + (cum - base[segment]) / totals[segment]
    full = counts > 0
    cdf[end[full]] = np.flatnonzero(full) + 1.0
    # Empty segments: a placeholder entry at the segment's upper edge, pointing at item 0.
    empty = np.flatnonzero(~full)
    if empty.size:
        pos = np.searchsorted(cdf, empty + 1.0)
        cdf = np.insert(cdf, pos, empty + 1.0)
        items = np.insert(items, pos, items[0] if items.size else 0)
    return items, cdf, counts
