"""Users and their triplet lines: preferred genres, favourite topics, songs, plays, duplicates.

Every function draws from the chunk's generator in a fixed order; reordering the calls in
:func:`user_chunk` changes the bytes written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sampledata.catalogue import Catalogue
from sampledata.encoding import HEX_LOWER
from sampledata.presets import (
    DUPLICATE_LINE_SHARE,
    HEAVY_PLAYS_SHARE,
    MEAN_PLAYS,
    PREFERRED_SHARE,
    SINGLE_PLAY_USER_SHARE,
    TOPIC_SHARE,
    SizePreset,
)


@dataclass
class UserChunk:
    """Users of one chunk and their triplet lines (indices into the chunk and catalogue)."""

    uid: np.ndarray  # (n, 40) uint8
    pref: np.ndarray  # (n, 3) preferred genres, n_genres where unused
    favourite: np.ndarray  # (n, n_genres) favourite global topic of each genre
    line_user: np.ndarray
    line_song: np.ndarray
    line_plays: np.ndarray
    line_dup: np.ndarray  # second line of a (user, song) pair


def _preferred_genres(
    p: SizePreset, cat: Catalogue, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """How many genres each user prefers (1 to 3), and which (``n_genres`` where unused)."""
    n_genres = p.n_genres
    k = rng.choice(np.array([1, 2, 3]), p=[0.45, 0.4, 0.15], size=n)
    keys = np.log(cat.genre_weight)[None, :] + rng.gumbel(size=(n, n_genres))
    order = np.argsort(-keys, axis=1)[:, :3]
    return k, np.where(np.arange(3)[None, :] < k[:, None], order, n_genres)


def _songs_per_user(
    p: SizePreset, cat: Catalogue, rng: np.random.Generator, pref: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct songs of each user, capped by what the preferred genres hold, and the
    single-play users (one song, one play)."""
    n, n_genres = pref.shape[0], p.n_genres
    avail = np.where(pref < n_genres, cat.warm_per_genre[np.minimum(pref, n_genres - 1)], 0)
    cap = np.minimum(p.max_songs_per_user, np.floor(0.6 * avail.sum(axis=1) / PREFERRED_SHARE))
    m = np.rint(rng.lognormal(np.log(p.songs_per_user), p.songs_per_user_sigma, size=n))
    single = rng.random(n) < SINGLE_PLAY_USER_SHARE
    m = np.where(single, 1, np.clip(m, 1, np.maximum(cap, 1))).astype(np.int64)
    return m, single


def _draw_songs(
    p: SizePreset,
    cat: Catalogue,
    rng: np.random.Generator,
    k: np.ndarray,
    pref: np.ndarray,
    m: np.ndarray,
    single: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Song draws (with repeats, more than needed), and each user's favourite topics.

    Returns
    -------
    tuple of ndarray
        ``(slot_user, song, user_favourite)``: the user and song of each draw, in draw order,
        and the ``(n, n_genres)`` favourite global topic of each user in each genre.
    """
    n, n_genres = pref.shape[0], p.n_genres
    draws = np.where(single, 1, np.ceil(m * 1.6).astype(np.int64) + 3)
    slot_user = np.repeat(np.arange(n), draws)
    n_slots = slot_user.size
    is_pref = (rng.random(n_slots) < PREFERRED_SHARE) | single[slot_user]
    col = (rng.random(n_slots) * k[slot_user]).astype(np.int64)
    g_pref = pref[slot_user, col]
    g_other = (rng.random(n_slots) * (n_genres - k[slot_user])).astype(np.int64)
    sorted_pref = np.sort(pref, axis=1)
    for c in range(3):
        g_other += g_other >= sorted_pref[slot_user, c]
    genre = np.where(is_pref, g_pref, g_other)
    u = np.minimum(rng.random(n_slots), 1.0 - 1e-9)
    song = cat.warm_songs[cat.warm_pick(genre + u)]
    # Inside a genre, a share of the draws goes to the user's favourite topic of that genre.
    user_favourite = np.arange(n_genres)[None, :] * p.n_topics + rng.integers(
        0, p.n_topics, size=(n, n_genres)
    )
    favourite = user_favourite[slot_user, genre]
    in_topic = (rng.random(n_slots) < TOPIC_SHARE) & (cat.warm_per_topic[favourite] > 0)
    in_topic &= ~single[slot_user]
    t = np.flatnonzero(in_topic)
    song[t] = cat.topic_songs[cat.topic_pick(favourite[t] + u[t])]
    return slot_user, song, user_favourite


def _first_distinct(
    slot_user: np.ndarray, song: np.ndarray, m: np.ndarray, n_songs: int
) -> tuple[np.ndarray, np.ndarray]:
    """First draws of distinct songs, in draw order, up to ``m`` per user: (user, song)."""
    _, first = np.unique(slot_user * n_songs + song, return_index=True)
    first.sort()
    users = slot_user[first]
    starts = np.searchsorted(users, np.arange(m.size))
    keep = np.arange(first.size) - starts[users] < m[users]
    return users[keep], song[first[keep]]


def _play_counts(rng: np.random.Generator, line_user: np.ndarray, single: np.ndarray) -> np.ndarray:
    """Geometric play counts, a few heavy ones, exactly 1 for single-play users."""
    n_lines = line_user.size
    plays = rng.geometric(1.0 / MEAN_PLAYS, size=n_lines)
    heavy = rng.random(n_lines) < HEAVY_PLAYS_SHARE
    big = np.rint(rng.lognormal(np.log(300.0), 1.0, size=n_lines)).astype(np.int64)
    plays = np.where(heavy, np.clip(big, 50, 20_000), plays)
    return np.where(single[line_user], 1, plays)


def _duplicates(
    p: SizePreset,
    cat: Catalogue,
    rng: np.random.Generator,
    line_user: np.ndarray,
    line_song: np.ndarray,
    m: np.ndarray,
    mismatched: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Second lines of some (user, song) pairs: ``(user, song, plays, sort key)``.

    Half sit next to the first line, half elsewhere in the user's block. Duplicates are only
    on kept songs, so both duplicate counts of ``planted.json`` agree.
    """
    dup = (rng.random(line_user.size) < DUPLICATE_LINE_SHARE) & (m[line_user] > 1)
    dup &= ~mismatched[line_song]
    d_user, d_song = line_user[dup], line_song[dup]
    d_plays = rng.geometric(1.0 / MEAN_PLAYS, size=d_user.size)
    adjacent = rng.random(d_user.size) < 0.5
    d_key = np.where(
        adjacent,
        2 * cat.song_rank[d_song] + 1,
        2 * rng.integers(0, p.n_songs, size=d_user.size) + 1,
    )
    return d_user, d_song, d_plays, d_key


def user_chunk(
    p: SizePreset, cat: Catalogue, rng: np.random.Generator, n: int, mismatched: np.ndarray
) -> UserChunk:
    """Users of one chunk and their triplet lines, grouped by user, sorted by song id."""
    uid = HEX_LOWER[rng.integers(0, 16, size=(n, 40))]
    k, pref = _preferred_genres(p, cat, rng, n)
    m, single = _songs_per_user(p, cat, rng, pref)
    slot_user, song, user_favourite = _draw_songs(p, cat, rng, k, pref, m, single)
    line_user, line_song = _first_distinct(slot_user, song, m, p.n_songs)
    plays = _play_counts(rng, line_user, single)
    d_user, d_song, d_plays, d_key = _duplicates(p, cat, rng, line_user, line_song, m, mismatched)

    n_lines = line_user.size
    all_user = np.concatenate([line_user, d_user])
    all_song = np.concatenate([line_song, d_song])
    all_plays = np.concatenate([plays, d_plays])
    all_dup = np.concatenate([np.zeros(n_lines, dtype=bool), np.ones(d_user.size, dtype=bool)])
    all_key = np.concatenate([2 * cat.song_rank[line_song], d_key])
    order = np.lexsort((all_key, all_user))
    return UserChunk(
        uid,
        pref,
        user_favourite,
        all_user[order],
        all_song[order],
        all_plays[order],
        all_dup[order],
    )
