"""Synthetic Million Song Dataset files with a planted structure and planted defects.

:func:`generate` writes the four raw inputs of the pipeline in the exact formats of the real
files (Taste Profile triplets, MSD ``unique_tracks.txt``, the Taste Profile
``sid_mismatches.txt`` and a musiXmatch bag-of-words file) and a ``_planted`` folder that says
what was planted, so that ingest tests can compare exact counts and quality tests can check
that the recommender finds the structure.

Planted structure: genres with artists and Zipf-popular songs, a share of cold songs nobody
plays, genre and topic specific lyric words, users who prefer one to three genres and play
mostly songs of those genres, and inside each genre mostly songs of one favourite lyric topic.
Planted defects: malformed lines with the reason code the ingest uses, duplicate (user, song)
lines, songs and tracks in the mismatch list, songs without lyrics, users with a single play.

Every count in ``_planted/planted.json`` is exact. Definitions (lines are raw lines, a line is
"valid" when it has no malformed reason):

- ``triplet_lines``: every line of the triplet file, malformed ones included.
- ``duplicate_triplet_lines``: valid lines minus distinct (user, song) pairs among them;
  ``duplicate_triplet_lines_kept`` the same over lines whose song is not mismatched.
- ``mismatched_song_ids``: distinct song ids in the mismatch file (some in no other file).
- ``expected_interactions``, ``expected_users``, ``expected_played_songs``,
  ``total_plays_expected``: distinct pairs, users, songs and the sum of plays (duplicates
  summed) over valid triplet lines whose song is not mismatched.
- ``single_play_users``: users of ``expected_users`` whose plays sum to exactly 1.
- ``catalogue_songs`` / ``catalogue_tracks``: distinct songs / tracks on valid track lines.
- ``songs_with_lyrics``: catalogue songs, not mismatched, with a valid lyric line through one
  of their tracks.
- ``cold_songs``: catalogue songs, not mismatched, on no valid triplet line;
  ``cold_songs_incl_mismatched`` counts mismatched ones too.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip as gzip_mod
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import BinaryIO

import numpy as np

TRIPLETS_FILE = "train_triplets.txt"
TRACKS_FILE = "unique_tracks.txt"
MISMATCHES_FILE = "sid_mismatches.txt"
LYRICS_FILE = "mxm_dataset_train.txt"
PLANTED_DIR = "_planted"
LYRIC_CHUNK = 20_000  # lyric lines generated and written per chunk
MAX_PLAY_COUNT = 100_000

GENRE_NAMES = tuple(
    "rock hiphop electronic jazz country latin metal folk classical reggae blues soul".split()
)

# Shares shared by every size.
COLD_SHARE = 0.05  # songs nobody plays
TWO_TRACK_SHARE = 0.04  # songs with two tracks
LYRICS_SHARE_WARM = 0.74  # played songs with lyrics
LYRICS_SHARE_COLD = 0.85  # cold songs with lyrics
SECOND_TRACK_LYRICS_SHARE = 0.3  # two-track songs with lyrics on both tracks
PREFERRED_SHARE = 0.9  # share of a user's song draws from the preferred genres
# Share of a user's draws inside a genre that go to the user's favourite lyric topic of that
# genre (the rest follow the genre's popularity). Taste that the lyrics reveal: the content
# half sees a song's topic from its words, the collaborative half only from who played it.
TOPIC_SHARE = 0.6
SINGLE_PLAY_USER_SHARE = 0.04
DUPLICATE_LINE_SHARE = 0.002
HEAVY_PLAYS_SHARE = 0.001  # lines with a play count in the hundreds or thousands
MEAN_PLAYS = 3.0
MISMATCH_PLAYED_SHARE = 0.008  # catalogue songs in the mismatch list, popular ones
MISMATCH_COLD_SHARE = 0.004  # catalogue songs in the mismatch list, never played
MISMATCH_ORPHAN_SHARE = 0.01  # song ids only in the mismatch list
WORD_MIX = (0.40, 0.35, 0.25)  # common, genre, topic words in a lyric

TRIPLET_REASONS = (
    "empty_line",
    "wrong_field_count",
    "empty_id",
    "bad_play_count",
    "play_count_out_of_range",
    "bad_encoding",
)
_BAD_PLAYS = ("abc", "2.5", "x7", "3.0")
_OUT_OF_RANGE_PLAYS = ("0", "-3", str(MAX_PLAY_COUNT + 1), "2500000")
_BAD_BYTES = (b"\xff\xfe", b"\x80\x81")
# (reason, variant) of the malformed lines of the track and lyric files.
TRACK_DEFECTS = (
    ("wrong_field_count", 0),
    ("wrong_field_count", 1),
    ("empty_id", 0),
    ("empty_id", 1),
)
LYRIC_DEFECTS = (
    ("bad_word_count", 0),
    ("bad_word_count", 1),
    ("word_index_out_of_range", 0),
    ("word_index_out_of_range", 1),
    ("wrong_field_count", 0),
)

_ONSETS = (*"b d f g k l m n p r s t v z ch sh th br dr kr st tr fl gl".split(), "")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou", "ee", "ia")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "k", "nd", "st")
_ACCENTS = {"e": "é", "o": "ö", "n": "ñ", "a": "á", "u": "ü"}
_CJK = "花月夜雨心愛風光星空海山夢歌春秋雪火水天"
_HEX_LOWER = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


@dataclass(frozen=True)
class SizePreset:
    """Scale of a generated data set.

    Parameters
    ----------
    name : str
        Preset name.
    n_users, n_songs : int
        Users in the triplets and songs in the catalogue.
    n_genres, n_topics : int
        Genres, and lyric topics per genre.
    vocab_size : int
        Words of the lyric vocabulary.
    songs_per_user, songs_per_user_sigma : float
        Median and log-sigma of the lognormal number of distinct songs per user.
    max_songs_per_user : int
        Cap on distinct songs per user.
    chunk_users : int
        Users generated and written per chunk.
    malformed_per_reason : int
        Malformed triplet lines per reason code.
    zipf_exponent : float
        Exponent of the song popularity power law within a genre.
    """

    name: str
    n_users: int
    n_songs: int
    n_genres: int
    n_topics: int
    vocab_size: int
    songs_per_user: float
    songs_per_user_sigma: float
    max_songs_per_user: int
    chunk_users: int
    malformed_per_reason: int
    zipf_exponent: float = 1.0


SIZES: dict[str, SizePreset] = {
    "tiny": SizePreset("tiny", 250, 400, 4, 3, 1_000, 20.0, 0.9, 120, 5_000, 2, 0.9),
    "small": SizePreset("small", 17_000, 10_000, 8, 4, 5_000, 17.0, 1.1, 1_500, 10_000, 3),
    "large": SizePreset("large", 200_000, 50_000, 8, 4, 5_000, 16.0, 1.1, 2_000, 20_000, 4),
}


def preset_for_triplets(
    n_triplets: int, base: str = "small", song_exponent: float = 1.0
) -> SizePreset:
    """``base`` scaled to about ``n_triplets`` triplet lines, for benchmarks.

    Users grow with the factor ``f = n_triplets / base_lines`` (each user keeps the same
    number of songs) and catalogue songs with ``f ** song_exponent`` (1.0 keeps the density of
    the matrix; the real data's 48M triplets and 384K songs are nearer 0.8). Genres, topics,
    vocabulary and defects per reason stay as in ``base``. The line count lands within a few
    percent of ``n_triplets``; ``planted.json`` has the exact figure.
    """
    if base not in BASE_TRIPLET_LINES:
        raise ValueError(
            f"base: {base!r} cannot be scaled; use one of {sorted(BASE_TRIPLET_LINES)}"
        )
    p = SIZES[base]
    if n_triplets < 1000:
        raise ValueError(f"n_triplets: {n_triplets} is too small to scale a preset (>= 1000)")
    factor = n_triplets / BASE_TRIPLET_LINES[base]
    n_songs = max(p.max_songs_per_user + 100, round(p.n_songs * factor**song_exponent))
    return dataclasses.replace(
        p,
        name=f"{base}-{n_triplets}",
        n_users=max(50, round(p.n_users * factor)),
        n_songs=n_songs,
    )


# Triplet lines each preset writes with seed 42 (see _planted/planted.json), for scaling.
BASE_TRIPLET_LINES = {"tiny": 6_130, "small": 500_046}


# ----------------------------------------------------------------------------- helpers


def _digits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned ASCII digits of non-negative integers.

    Returns
    -------
    tuple of ndarray
        ``(n, width)`` uint8 digits and the bool mask of the significant ones.
    """
    v = np.asarray(values, dtype=np.int64)
    width = len(str(int(v.max()))) if v.size else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    mat = ((v[:, None] // powers) % 10 + 48).astype(np.uint8)
    n_digits = np.maximum(1, (v[:, None] >= powers).sum(axis=1))
    mask = np.arange(width)[None, :] >= (width - n_digits)[:, None]
    return mat, mask


def _const(n: int, text: bytes) -> np.ndarray:
    """An ``(n, len(text))`` uint8 column block repeating ``text``."""
    return np.tile(np.frombuffer(text, dtype=np.uint8), (n, 1))


def _pack(fields: Sequence[tuple[np.ndarray, np.ndarray | None]]) -> tuple[bytes, np.ndarray]:
    """Concatenate per-row byte fields (masked bytes dropped) into one blob.

    Returns
    -------
    tuple
        The bytes and the byte length of each row.
    """
    n = fields[0][0].shape[0]
    width = sum(m.shape[1] for m, _ in fields)
    mat = np.empty((n, width), dtype=np.uint8)
    mask = np.ones((n, width), dtype=bool)
    col = 0
    for m, k in fields:
        mat[:, col : col + m.shape[1]] = m
        if k is not None:
            mask[:, col : col + m.shape[1]] = k
        col += m.shape[1]
    return mat[mask].tobytes(), mask.sum(axis=1)


class _InverseCdf:
    """Exact ``searchsorted(cdf, v, "right")`` for many ``v``, sped up by a bucket table.

    ``cdf`` holds consecutive segments, segment ``s`` rising from ``s`` to ``s + 1``.
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


def _insert_lines(blob: bytes, row_len: np.ndarray, inserts: list[tuple[int, bytes]]) -> bytes:
    """Insert whole lines before the given row positions of a packed blob."""
    if not inserts:
        return blob
    ends = np.concatenate([[0], np.cumsum(row_len)])
    pieces: list[bytes] = []
    prev = 0
    for pos, line in sorted(inserts, key=lambda x: x[0]):
        off = int(ends[pos])
        pieces.append(blob[prev:off])
        pieces.append(line)
        prev = off
    pieces.append(blob[prev:])
    return b"".join(pieces)


def _msd_ids(rng: np.random.Generator, n: int, prefix: bytes) -> np.ndarray:
    """Unique MSD-style ids (``SO``/``TR`` + 5 letters + ``12`` + 9 hex), ``(n, 18)`` uint8."""
    mat = np.empty((n, 18), dtype=np.uint8)
    mat[:, :2] = np.frombuffer(prefix, dtype=np.uint8)
    mat[:, 7:9] = np.frombuffer(b"12", dtype=np.uint8)
    todo = np.arange(n)
    while todo.size:
        mat[todo, 2:7] = _LETTERS[rng.integers(0, 26, size=(todo.size, 5))]
        mat[todo, 9:] = _HEX_UPPER[rng.integers(0, 16, size=(todo.size, 9))]
        _, first = np.unique(mat.view("S18").ravel(), return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        todo = np.flatnonzero(dup)
    return mat


def _id_strings(mat: np.ndarray) -> list[str]:
    """Id strings of an ``(n, width)`` uint8 id matrix."""
    return [b.decode("ascii") for b in np.ascontiguousarray(mat).view(f"S{mat.shape[1]}").ravel()]


def _pseudo_words(rng: np.random.Generator, n: int, max_syllables: int = 3) -> list[str]:
    """``n`` unique readable lowercase pseudo-words built from syllables."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        batch = max(64, 2 * (n - len(out)))
        n_syl = rng.integers(1, max_syllables + 1, size=batch)
        on = rng.integers(0, len(_ONSETS), size=(batch, max_syllables))
        nu = rng.integers(0, len(_NUCLEI), size=(batch, max_syllables))
        co = rng.integers(0, len(_CODAS), size=batch)
        for i in range(batch):
            k = int(n_syl[i])
            word = "".join(_ONSETS[on[i, j]] + _NUCLEI[nu[i, j]] for j in range(k))
            word += _CODAS[co[i]]
            if len(word) >= 2 and word not in seen:
                seen.add(word)
                out.append(word)
                if len(out) == n:
                    break
    return out


def _accent(word: str, rng: np.random.Generator) -> str:
    """Replace one accentable letter of ``word`` by its accented form."""
    spots = [i for i, c in enumerate(word) if c in _ACCENTS]
    if not spots:
        return word
    i = spots[int(rng.integers(len(spots)))]
    return word[:i] + _ACCENTS[word[i]] + word[i + 1 :]


def _cjk(rng: np.random.Generator) -> str:
    return "".join(_CJK[int(i)] for i in rng.integers(0, len(_CJK), size=int(rng.integers(2, 5))))


def _artist_names(rng: np.random.Generator, n: int, words: list[str]) -> list[str]:
    """Unique artist names: pseudo-words, some accented, CJK, or with ``<``/``>``."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        w = [words[int(i)].capitalize() for i in rng.integers(0, len(words), size=2)]
        style = int(rng.integers(0, 6))
        name = (
            w[0],
            f"The {w[0]}s",
            f"{w[0]} {w[1]}",
            f"{w[0]} & the {w[1]}s",
            f"DJ {w[0]}",
            f"{w[0]} {w[1]}",
        )[style]
        r = rng.random()
        if r < 0.08:
            name = _accent(name, rng)
        elif r < 0.11:
            name = _cjk(rng)
        elif r < 0.125:
            name = f"<{w[0]}>" if rng.random() < 0.5 else f"{w[0]} >> {w[1]}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _titles(rng: np.random.Generator, n: int, words: list[str]) -> list[str]:
    """Song titles: 1 to 4 title-cased pseudo-words with occasional extras."""
    n_words = rng.integers(1, 5, size=n)
    picks = rng.integers(0, len(words), size=(n, 4))
    r = rng.random(n)
    extra = rng.integers(0, 4, size=n)
    out: list[str] = []
    for i in range(n):
        title = " ".join(words[int(j)].capitalize() for j in picks[i, : n_words[i]])
        if r[i] < 0.08:
            title += (" (Live)", " (Remix)", " (Album Version)", " (Acoustic)")[extra[i]]
        elif r[i] < 0.13:
            title = _accent(title, rng)
        elif r[i] < 0.15:
            title = _cjk(rng)
        elif r[i] < 0.165:
            a, b = words[int(picks[i, 0])].capitalize(), words[int(picks[i, 1])].capitalize()
            title = (f"<3 {a}", f"{a} -> {b}", f"<{a}>", f"{a} > {b}")[extra[i]]
        out.append(title)
    return out


class _Out:
    """A binary output file, plain or gzip (deterministic header), counting lines."""

    def __init__(self, path: Path, use_gzip: bool) -> None:
        self.name = path.name + (".gz" if use_gzip else "")
        self.path = path.with_name(self.name)
        stale = path if use_gzip else path.with_name(path.name + ".gz")
        if stale.exists():
            stale.unlink()  # a stale counterpart would be read twice by the ingest glob
        self._raw = open(self.path, "wb")  # noqa: SIM115
        self._f: BinaryIO = self._raw
        if use_gzip:
            self._f = gzip_mod.GzipFile(
                filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=1
            )
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.lines += data.count(b"\n")
        self._f.write(data)

    def close(self) -> None:
        if self._f is not self._raw:
            self._f.close()
        self._raw.close()


# ----------------------------------------------------------------------------- catalogue


@dataclass
class _Catalogue:
    genres: list[str]
    song_genre: np.ndarray
    song_artist: np.ndarray
    song_topic: np.ndarray  # global topic id: genre * n_topics + topic
    pop_rank: np.ndarray  # rank within genre by popularity, -1 for cold songs
    cold: np.ndarray  # designated cold (weight 0)
    sid: np.ndarray  # (S, 18) uint8
    sid_str: list[str]
    song_rank: np.ndarray  # rank of the song id string
    artist_names: list[str]
    titles: list[str]
    track_song: np.ndarray
    tid: np.ndarray
    tid_str: list[str]
    genre_weight: np.ndarray
    warm_songs: np.ndarray  # warm song indices grouped by genre
    warm_pick: _InverseCdf  # over genre + cumulative share within the genre
    warm_per_genre: np.ndarray
    topic_songs: np.ndarray  # warm song indices grouped by global topic
    topic_pick: _InverseCdf  # over global topic + cumulative share within the topic
    warm_per_topic: np.ndarray
    spare_sids: list[str]  # ids used nowhere else (orphans, malformed lines)
    spare_tids: list[str]


def _segment_cdf(
    items: np.ndarray, segment: np.ndarray, weight: np.ndarray, n_segments: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items grouped by segment, the cumulative weight share within each segment offset by the
    segment number (for :class:`_InverseCdf`), and the item count per segment.

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


def _build_catalogue(p: SizePreset, rng: np.random.Generator, words: list[str]) -> _Catalogue:
    n_songs, n_genres = p.n_songs, p.n_genres
    share = rng.uniform(0.6, 1.4, size=n_genres)
    sizes = np.floor(share / share.sum() * n_songs).astype(np.int64)
    sizes[: n_songs - sizes.sum()] += 1
    song_genre = np.repeat(np.arange(n_genres), sizes)

    song_artist = np.empty(n_songs, dtype=np.int64)
    song_topic = np.empty(n_songs, dtype=np.int64)
    pop_rank = np.full(n_songs, -1, dtype=np.int64)
    cold = np.zeros(n_songs, dtype=bool)
    cold[rng.choice(n_songs, size=round(COLD_SHARE * n_songs), replace=False)] = True
    n_artists = 0
    start = 0
    for g, size in enumerate(sizes.tolist()):
        per_artist = 1 + rng.geometric(1 / 6, size=size)
        ends = np.cumsum(per_artist)
        local = np.searchsorted(ends, np.arange(size), side="right")
        k = int(local.max()) + 1
        song_artist[start : start + size] = n_artists + local
        artist_topic = rng.integers(0, p.n_topics, size=k)
        topic = np.where(
            rng.random(size) < 0.8, artist_topic[local], rng.integers(0, p.n_topics, size=size)
        )
        song_topic[start : start + size] = g * p.n_topics + topic
        warm = np.flatnonzero(~cold[start : start + size]) + start
        pop_rank[rng.permutation(warm)] = np.arange(warm.size)
        n_artists += k
        start += size

    n_orphans = max(2, round(MISMATCH_ORPHAN_SHARE * n_songs))
    n_spare = n_orphans + 2 * len(TRACK_DEFECTS) + 8
    sid = _msd_ids(rng, n_songs + n_spare, b"SO")
    n_tracks = 1 + (rng.random(n_songs) < TWO_TRACK_SHARE)
    track_song = np.repeat(np.arange(n_songs), n_tracks)
    tid = _msd_ids(rng, track_song.size + 2 * n_spare, b"TR")
    sid_str, tid_str = _id_strings(sid), _id_strings(tid)
    song_sid = sid[:n_songs]
    song_rank = np.empty(n_songs, dtype=np.int64)
    song_rank[np.argsort(song_sid.view("S18").ravel(), kind="stable")] = np.arange(n_songs)

    weight = np.where(cold, 0.0, (pop_rank + 2.0) ** -p.zipf_exponent)
    warm = np.flatnonzero(~cold)
    warm_songs, warm_cdf, warm_per_genre = _segment_cdf(
        warm, song_genre[warm], weight[warm], n_genres
    )
    topic_songs, topic_cdf, warm_per_topic = _segment_cdf(
        warm, song_topic[warm], weight[warm], n_genres * p.n_topics
    )
    return _Catalogue(
        genres=list(GENRE_NAMES[:n_genres]),
        song_genre=song_genre,
        song_artist=song_artist,
        song_topic=song_topic,
        pop_rank=pop_rank,
        cold=cold,
        sid=np.ascontiguousarray(song_sid),
        sid_str=sid_str[:n_songs],
        song_rank=song_rank,
        artist_names=_artist_names(rng, n_artists, words),
        titles=_titles(rng, n_songs, words),
        track_song=track_song,
        tid=tid[: track_song.size],
        tid_str=tid_str[: track_song.size],
        genre_weight=rng.uniform(0.6, 1.4, size=n_genres),
        warm_songs=warm_songs,
        warm_pick=_InverseCdf(warm_cdf, 1 << 17),
        warm_per_genre=warm_per_genre,
        topic_songs=topic_songs,
        topic_pick=_InverseCdf(topic_cdf, 1 << 15),
        warm_per_topic=warm_per_topic,
        spare_sids=sid_str[n_songs:],
        spare_tids=tid_str[track_song.size :],
    )


# ----------------------------------------------------------------------------- triplets


@dataclass
class _UserChunk:
    uid: np.ndarray  # (n, 40) uint8
    pref: np.ndarray  # (n, 3) preferred genres, n_genres where unused
    favourite: np.ndarray  # (n, n_genres) favourite global topic of each genre
    line_user: np.ndarray
    line_song: np.ndarray
    line_plays: np.ndarray
    line_dup: np.ndarray  # second line of a (user, song) pair


def _user_chunk(
    p: SizePreset, cat: _Catalogue, rng: np.random.Generator, n: int, mismatched: np.ndarray
) -> _UserChunk:
    """Users of one chunk and their triplet lines, grouped by user, sorted by song id."""
    n_genres = p.n_genres
    uid = _HEX_LOWER[rng.integers(0, 16, size=(n, 40))]
    k = rng.choice(np.array([1, 2, 3]), p=[0.45, 0.4, 0.15], size=n)
    keys = np.log(cat.genre_weight)[None, :] + rng.gumbel(size=(n, n_genres))
    order = np.argsort(-keys, axis=1)[:, :3]
    pref = np.where(np.arange(3)[None, :] < k[:, None], order, n_genres)

    avail = np.where(pref < n_genres, cat.warm_per_genre[np.minimum(pref, n_genres - 1)], 0)
    cap = np.minimum(p.max_songs_per_user, np.floor(0.6 * avail.sum(axis=1) / PREFERRED_SHARE))
    m = np.rint(rng.lognormal(np.log(p.songs_per_user), p.songs_per_user_sigma, size=n))
    single = rng.random(n) < SINGLE_PLAY_USER_SHARE
    m = np.where(single, 1, np.clip(m, 1, np.maximum(cap, 1))).astype(np.int64)

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

    # First draws of distinct songs, in draw order, up to m per user.
    _, first = np.unique(slot_user * p.n_songs + song, return_index=True)
    first.sort()
    users = slot_user[first]
    starts = np.searchsorted(users, np.arange(n))
    keep = np.arange(first.size) - starts[users] < m[users]
    line_user, line_song = users[keep], song[first[keep]]

    n_lines = line_user.size
    plays = rng.geometric(1.0 / MEAN_PLAYS, size=n_lines)
    heavy = rng.random(n_lines) < HEAVY_PLAYS_SHARE
    big = np.rint(rng.lognormal(np.log(300.0), 1.0, size=n_lines)).astype(np.int64)
    plays = np.where(heavy, np.clip(big, 50, 20_000), plays)
    plays = np.where(single[line_user], 1, plays)

    # Duplicates only on kept songs, so both duplicate counts of planted.json agree.
    dup = (rng.random(n_lines) < DUPLICATE_LINE_SHARE) & (m[line_user] > 1)
    dup &= ~mismatched[line_song]
    d_user, d_song = line_user[dup], line_song[dup]
    d_plays = rng.geometric(1.0 / MEAN_PLAYS, size=d_user.size)
    adjacent = rng.random(d_user.size) < 0.5
    d_key = np.where(
        adjacent,
        2 * cat.song_rank[d_song] + 1,
        2 * rng.integers(0, p.n_songs, size=d_user.size) + 1,
    )

    all_user = np.concatenate([line_user, d_user])
    all_song = np.concatenate([line_song, d_song])
    all_plays = np.concatenate([plays, d_plays])
    all_dup = np.concatenate([np.zeros(n_lines, dtype=bool), np.ones(d_user.size, dtype=bool)])
    all_key = np.concatenate([2 * cat.song_rank[line_song], d_key])
    order = np.lexsort((all_key, all_user))
    return _UserChunk(
        uid,
        pref,
        user_favourite,
        all_user[order],
        all_song[order],
        all_plays[order],
        all_dup[order],
    )


def _bad_triplet(reason: str, variant: int, uid: bytes, sid: bytes, plays: int) -> bytes:
    """One malformed triplet line whose only defect is ``reason``."""
    p = str(plays).encode()
    if reason == "empty_line":
        return b"\n"
    if reason == "wrong_field_count":
        return (
            uid + b"\t" + sid + b"\n" if variant % 2 == 0 else b"\t".join([uid, sid, p, p]) + b"\n"
        )
    if reason == "empty_id":
        return b"\t" + sid + b"\t" + p + b"\n" if variant % 2 == 0 else uid + b"\t\t" + p + b"\n"
    if reason == "bad_play_count":
        return uid + b"\t" + sid + b"\t" + _BAD_PLAYS[variant % len(_BAD_PLAYS)].encode() + b"\n"
    if reason == "play_count_out_of_range":
        bad = _OUT_OF_RANGE_PLAYS[variant % len(_OUT_OF_RANGE_PLAYS)].encode()
        return uid + b"\t" + sid + b"\t" + bad + b"\n"
    if reason == "bad_encoding":
        broken = uid[:10] + _BAD_BYTES[variant % len(_BAD_BYTES)] + uid[12:]
        return broken + b"\t" + sid + b"\t" + p + b"\n"
    raise ValueError(reason)


def _write_triplets(
    out_dir: Path,
    p: SizePreset,
    cat: _Catalogue,
    seed: int,
    use_gzip: bool,
    mismatched: np.ndarray,
    planted_dir: Path,
) -> dict:
    """Stream the triplet file and ``users.csv``; return the triplet counts."""
    n_chunks = -(-p.n_users // p.chunk_users)
    chunk_sizes = [min(p.chunk_users, p.n_users - c * p.chunk_users) for c in range(n_chunks)]
    defect_rng = np.random.default_rng([seed, 3])
    defects: dict[int, list[tuple[float, str, int]]] = {c: [] for c in range(n_chunks)}
    for reason in TRIPLET_REASONS:
        for v in range(p.malformed_per_reason):
            c = int(defect_rng.integers(n_chunks))
            defects[c].append((float(defect_rng.uniform(0.02, 0.98)), reason, v))

    malformed_lines: dict[str, list[int]] = {r: [] for r in TRIPLET_REASONS}
    played_any = np.zeros(p.n_songs, dtype=bool)
    played_kept = np.zeros(p.n_songs, dtype=bool)
    counts = dict.fromkeys(
        (
            "valid",
            "dup",
            "dup_kept",
            "mism_lines",
            "interactions",
            "users",
            "plays",
            "single",
            "pref_lines",
        ),
        0,
    )
    genre_csv = ["|".join(cat.genres[g] for g in combo) for combo in _combos(p.n_genres)]
    combo_index = {c: i for i, c in enumerate(_combos(p.n_genres))}
    lines_before = 0
    out = _Out(out_dir / TRIPLETS_FILE, use_gzip)
    users_csv = open(planted_dir / "users.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
    users_csv.write("user_id,genres,favourite_topics\n")
    try:
        for c, n in enumerate(chunk_sizes):
            ch = _user_chunk(p, cat, np.random.default_rng([seed, 7, c]), n, mismatched)
            n_lines = ch.line_user.size
            digits, dmask = _digits(ch.line_plays)
            blob, row_len = _pack(
                [
                    (ch.uid[ch.line_user], None),
                    (_const(n_lines, b"\t"), None),
                    (cat.sid[ch.line_song], None),
                    (_const(n_lines, b"\t"), None),
                    (digits, dmask),
                    (_const(n_lines, b"\n"), None),
                ]
            )
            bad = []
            for frac, reason, v in sorted(defects[c]):
                pos = min(max(1, int(frac * n_lines)), max(n_lines - 1, 0))
                line = _bad_triplet(
                    reason,
                    v,
                    ch.uid[ch.line_user[pos]].tobytes(),
                    cat.sid[ch.line_song[pos]].tobytes(),
                    int(ch.line_plays[pos]),
                )
                bad.append((pos, line, reason))
            for i, (pos, _line, reason) in enumerate(bad):  # sorted by position already
                malformed_lines[reason].append(lines_before + pos + i + 1)
            inserts = [(pos, line) for pos, line, _ in bad]
            out.write(_insert_lines(blob, row_len, inserts))
            lines_before += n_lines + len(inserts)

            mism = mismatched[ch.line_song]
            kept = ~mism
            counts["valid"] += n_lines
            counts["dup"] += int(ch.line_dup.sum())
            counts["dup_kept"] += int((ch.line_dup & kept).sum())
            counts["mism_lines"] += int(mism.sum())
            counts["interactions"] += int((kept & ~ch.line_dup).sum())
            counts["plays"] += int(ch.line_plays[kept].sum())
            user_plays = np.bincount(ch.line_user[kept], weights=ch.line_plays[kept], minlength=n)
            user_lines = np.bincount(ch.line_user[kept], minlength=n)
            counts["users"] += int((user_lines > 0).sum())
            counts["single"] += int(((user_lines > 0) & (user_plays == 1)).sum())
            in_pref = (ch.pref[ch.line_user] == cat.song_genre[ch.line_song][:, None]).any(axis=1)
            counts["pref_lines"] += int(in_pref.sum())
            played_any[ch.line_song] = True
            played_kept[ch.line_song[kept]] = True

            sorted_pref = np.sort(ch.pref, axis=1)
            uids = _id_strings(ch.uid)
            combos = [
                combo_index[tuple(g for g in row if g < p.n_genres)] for row in sorted_pref.tolist()
            ]
            topics = [
                "|".join(str(ch.favourite[i, g]) for g in row if g < p.n_genres)
                for i, row in enumerate(sorted_pref.tolist())
            ]
            rows = [
                f"{u},{genre_csv[k]},{t}\n" for u, k, t in zip(uids, combos, topics, strict=True)
            ]
            users_csv.write("".join(rows))
    finally:
        out.close()
        users_csv.close()
    return {
        "file": out,
        "malformed_lines": malformed_lines,
        "played_any": played_any,
        "played_kept": played_kept,
        **counts,
    }


def _combos(n_genres: int) -> list[tuple[int, ...]]:
    """Sorted genre combinations of 1 to 3 genres."""
    return [c for k in (1, 2, 3) for c in combinations(range(n_genres), k)]


# ----------------------------------------------------------------------------- lyrics


def _word_segments(p: SizePreset, rng: np.random.Generator) -> tuple[np.ndarray, _InverseCdf]:
    """Word indices (1-based), segment after segment, and a sampler over them.

    Segment 0 holds the common words (the lowest indices, most frequent first), segments
    ``1 .. G`` the genre words and ``1 + G + topic`` the topic words.
    """
    v, n_genres = p.vocab_size, p.n_genres
    n_topics = n_genres * p.n_topics
    n_common = int(0.15 * v)
    n_genre_words = int(0.45 * v) // n_genres
    n_topic_words = (v - n_common - n_genre_words * n_genres) // n_topics
    rest = rng.permutation(np.arange(n_common + 1, v + 1))
    seg_words = [np.arange(1, n_common + 1)]
    pos = 0
    for size, count in ((n_genre_words, n_genres), (n_topic_words, n_topics)):
        for _ in range(count):
            seg_words.append(rest[pos : pos + size])
            pos += size
    seg_words[-1] = np.concatenate([seg_words[-1], rest[pos:]])  # leftovers: last topic
    words = np.concatenate(seg_words)
    cdf = np.concatenate(
        [
            s
            + np.cumsum((np.arange(len(w)) + 1.0) ** -0.9)
            / np.sum((np.arange(len(w)) + 1.0) ** -0.9)
            for s, w in enumerate(seg_words)
        ]
    )
    ends = np.cumsum([len(w) for w in seg_words]) - 1
    cdf[ends] = np.arange(len(seg_words)) + 1.0
    return words, _InverseCdf(cdf, 1 << 14)


def _lyric_bags(
    rng: np.random.Generator,
    genre: np.ndarray,
    topic: np.ndarray,
    n_genres: int,
    vocab_size: int,
    words: np.ndarray,
    pick: _InverseCdf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bags of words for lyric lines: ``(line, word index, count)`` sorted by line, word."""
    n = genre.size
    length = np.clip(np.rint(rng.lognormal(np.log(80.0), 0.6, size=n)), 8, 600).astype(np.int64)
    line = np.repeat(np.arange(n), length)
    r = rng.random(line.size)
    seg = np.where(
        r < WORD_MIX[0],
        0,
        np.where(r < WORD_MIX[0] + WORD_MIX[1], 1 + genre[line], 1 + n_genres + topic[line]),
    )
    u = np.minimum(rng.random(line.size), 1.0 - 1e-9)
    word = words[pick(seg + u)]
    keys, cnt = np.unique(line * (vocab_size + 1) + word, return_counts=True)
    return keys // (vocab_size + 1), keys % (vocab_size + 1), cnt


def _format_lyrics(
    tid: np.ndarray, mxm: np.ndarray, line: np.ndarray, word: np.ndarray, cnt: np.ndarray
) -> tuple[bytes, np.ndarray]:
    """Pack lyric lines ``track_id,mxm_id,idx:cnt,...`` into bytes; return per-line lengths."""
    n_lines, n_tok = tid.shape[0], line.size
    n_rows = n_lines + n_tok
    per_line = np.bincount(line, minlength=n_lines)
    starts = np.concatenate([[0], np.cumsum(per_line)[:-1]])
    prefix_rows = starts + np.arange(n_lines)
    token_rows = np.arange(n_tok) + line + 1
    last = np.zeros(n_tok, dtype=bool)
    last[np.cumsum(per_line) - 1] = True

    m_d, m_k = _digits(mxm)
    w_d, w_k = _digits(word)
    c_d, c_k = _digits(cnt)
    blocks = [(18, tid, None), (1, b",", None), (m_d.shape[1], m_d, m_k), (1, b",", None)]
    widths_pre = sum(b[0] for b in blocks)
    width = widths_pre + w_d.shape[1] + 1 + c_d.shape[1] + 1
    mat = np.zeros((n_rows, width), dtype=np.uint8)
    mask = np.zeros((n_rows, width), dtype=bool)
    col = 0
    for w, data, k in blocks:
        mat[prefix_rows, col : col + w] = (
            np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
        )
        mask[prefix_rows, col : col + w] = True if k is None else k
        col += w
    for data, k in ((w_d, w_k), (b":", None), (c_d, c_k)):
        w = 1 if isinstance(data, bytes) else data.shape[1]
        mat[token_rows, col : col + w] = (
            np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
        )
        mask[token_rows, col : col + w] = True if k is None else k
        col += w
    mat[token_rows, col] = np.where(last, ord("\n"), ord(","))
    mask[token_rows, col] = True
    row_len = mask.sum(axis=1)
    line_len = np.bincount(
        np.concatenate([np.arange(n_lines), line]),
        weights=np.concatenate([row_len[prefix_rows], row_len[token_rows]]),
        minlength=n_lines,
    ).astype(np.int64)
    return mat[mask].tobytes(), line_len


def _bad_lyric(
    reason: str,
    variant: int,
    tid: str,
    mxm: int,
    word: np.ndarray,
    cnt: np.ndarray,
    vocab_size: int,
) -> bytes:
    """One malformed lyric line whose only defect is ``reason``."""
    toks = [f"{w}:{c}" for w, c in zip(word.tolist(), cnt.tolist(), strict=True)]
    if reason == "wrong_field_count":
        return f"{tid}\n".encode()
    if reason == "bad_word_count":
        toks[len(toks) // 2] = toks[len(toks) // 2].split(":")[0] + (":x" if variant == 0 else "")
    elif reason == "word_index_out_of_range":
        if variant == 0:
            toks.append(f"{vocab_size + 1}:2")
        else:
            toks.insert(0, "0:3")
    return (",".join([tid, str(mxm), *toks]) + "\n").encode()


# ----------------------------------------------------------------------------- generate


def generate(
    out_dir: str | Path, size: str | SizePreset = "small", seed: int = 42, gzip: bool = False
) -> dict:
    """Write a synthetic data set in the real file formats and describe what it plants.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the four raw files and the ``_planted`` folder (created if missing).
    size : str or SizePreset
        A key of :data:`SIZES` or a preset.
    seed : int
        Non-negative seed; the same seed and size give the same bytes.
    gzip : bool
        Write ``<name>.gz`` files instead of plain text.

    Returns
    -------
    dict
        The planted counts, also written to ``_planted/planted.json``.
    """
    p = SIZES[size] if isinstance(size, str) else size
    if seed < 0:
        raise ValueError("seed must be non-negative")
    out = Path(out_dir)
    planted_dir = out / PLANTED_DIR
    planted_dir.mkdir(parents=True, exist_ok=True)

    name_rng = np.random.default_rng([seed, 0])
    vocab = _pseudo_words(name_rng, p.vocab_size)
    name_words = _pseudo_words(name_rng, max(400, p.n_songs // 10))
    cat = _build_catalogue(p, np.random.default_rng([seed, 1]), name_words)
    n_songs, n_tracks = p.n_songs, cat.track_song.size
    rng = np.random.default_rng([seed, 2])

    # Mismatch list: popular songs (played), cold songs (never played), orphan ids.
    popular = np.flatnonzero((cat.pop_rank >= 0) & (cat.pop_rank < 0.2 * cat.warm_per_genre.min()))
    n_mm_pop = min(popular.size, max(2, round(MISMATCH_PLAYED_SHARE * n_songs)))
    cold_ids = np.flatnonzero(cat.cold)
    n_mm_cold = min(cold_ids.size, max(1, round(MISMATCH_COLD_SHARE * n_songs)))
    mm_songs = np.sort(
        np.concatenate(
            [
                rng.choice(popular, n_mm_pop, replace=False),
                rng.choice(cold_ids, n_mm_cold, replace=False),
            ]
        )
    )
    mismatched = np.zeros(n_songs, dtype=bool)
    mismatched[mm_songs] = True
    first_track = np.searchsorted(cat.track_song, np.arange(n_songs))
    song_n_tracks = np.bincount(cat.track_song, minlength=n_songs)

    mm_pairs: list[tuple[str, str, int]] = []  # (song id, track id, song index or -1)
    track_mismatched = np.zeros(n_tracks, dtype=bool)
    for s in mm_songs.tolist():
        t0 = int(first_track[s])
        picks = [t0 + int(rng.integers(song_n_tracks[s]))]
        if song_n_tracks[s] == 2 and rng.random() < 0.5:
            picks = [t0, t0 + 1]
        for t in picks:
            track_mismatched[t] = True
            mm_pairs.append((cat.sid_str[s], cat.tid_str[t], s))
    n_orphans = max(2, round(MISMATCH_ORPHAN_SHARE * n_songs))
    spare_s, spare_t = list(cat.spare_sids), list(cat.spare_tids)
    for i in range(n_orphans):
        sid = spare_s.pop()
        mm_pairs.append((sid, spare_t.pop(), -1))
        if i % 10 == 1:
            mm_pairs.append((sid, spare_t.pop(), -1))  # one song id, two tracks
    other = rng.integers(0, n_songs, size=len(mm_pairs)).tolist()
    mm_pairs.append(mm_pairs[0])  # an identical repeated line, as in the real file
    other.append(other[0])
    mm_source = list(range(len(mm_pairs) - 1)) + [0]
    mm_order = rng.permutation(len(mm_pairs))

    # Lyric plan: which tracks get a lyric line.
    has_lyrics_plan = rng.random(n_songs) < np.where(cat.cold, LYRICS_SHARE_COLD, LYRICS_SHARE_WARM)
    lyric_track = np.zeros(n_tracks, dtype=bool)
    primary = first_track + (rng.random(n_songs) * song_n_tracks).astype(np.int64)
    lyric_track[primary[has_lyrics_plan]] = True
    both = (
        has_lyrics_plan & (song_n_tracks == 2) & (rng.random(n_songs) < SECOND_TRACK_LYRICS_SHARE)
    )
    lyric_track[first_track[both]] = True
    lyric_track[first_track[both] + 1] = True
    no_lyric_tracks = np.flatnonzero(~lyric_track & ~cat.cold[cat.track_song] & ~track_mismatched)
    bad_lyric_tracks = rng.choice(no_lyric_tracks, len(LYRIC_DEFECTS), replace=False)

    files: dict[str, int] = {}

    # --- triplets and users.csv
    trip = _write_triplets(out, p, cat, seed, gzip, mismatched, planted_dir)
    files[trip["file"].name] = trip["file"].lines

    # --- unique_tracks.txt
    track_lines = [
        f"{cat.tid_str[t]}<SEP>{cat.sid_str[s]}<SEP>{cat.artist_names[cat.song_artist[s]]}"
        f"<SEP>{cat.titles[s]}\n"
        for t, s in enumerate(cat.track_song.tolist())
    ]
    track_lines = [track_lines[i] for i in rng.permutation(n_tracks).tolist()]
    tracks_malformed: dict[str, int] = {}
    tracks_malformed_at: dict[str, list[int]] = {}
    positions = np.sort(rng.choice(np.arange(1, n_tracks), len(TRACK_DEFECTS), replace=False))
    for i, ((reason, v), pos) in enumerate(zip(TRACK_DEFECTS, positions.tolist(), strict=True)):
        t, s = spare_t.pop(), spare_s.pop()
        artist, title = cat.artist_names[i], cat.titles[i]
        bad = {
            ("wrong_field_count", 0): f"{t}<SEP>{s}<SEP>{artist}\n",
            ("wrong_field_count", 1): f"{t}<SEP>{s}<SEP>{artist}<SEP>{title}<SEP>{title}\n",
            ("empty_id", 0): f"<SEP>{s}<SEP>{artist}<SEP>{title}\n",
            ("empty_id", 1): f"{t}<SEP><SEP>{artist}<SEP>{title}\n",
        }[(reason, v)]
        track_lines.insert(pos + i, bad)
        tracks_malformed[reason] = tracks_malformed.get(reason, 0) + 1
        tracks_malformed_at.setdefault(reason, []).append(pos + i + 1)
    f = _Out(out / TRACKS_FILE, gzip)
    try:
        f.write("".join(track_lines).encode("utf-8"))
    finally:
        f.close()
    files[f.name] = f.lines
    del track_lines

    # --- sid_mismatches.txt
    mm_lines = []
    for j in mm_order.tolist():
        sid, tid, s = mm_pairs[j]
        src = mm_source[j]
        if s >= 0:
            a1, t1 = cat.artist_names[cat.song_artist[s]], cat.titles[s]
        else:
            a1, t1 = name_words[src % len(name_words)].capitalize(), vocab[src].capitalize()
        o = other[j]
        a2, t2 = cat.artist_names[cat.song_artist[o]], cat.titles[o]
        mm_lines.append(f"ERROR: <{sid} {tid}> {a1}  -  {t1}  !=  {a2}  -  {t2}\n")
    f = _Out(out / MISMATCHES_FILE, gzip)
    try:
        f.write("".join(mm_lines).encode("utf-8"))
    finally:
        f.close()
    files[f.name] = f.lines

    # --- mxm_dataset_train.txt, lines sorted by track id
    seg_words, seg_pick = _word_segments(p, rng)
    lyric_tracks = np.flatnonzero(lyric_track)
    all_lyric = np.concatenate([lyric_tracks, bad_lyric_tracks])
    mxm_ids = rng.choice(np.arange(1_000_000, 9_999_999), size=all_lyric.size, replace=False)
    order = np.argsort(cat.tid[all_lyric].view("S18").ravel(), kind="stable")
    all_lyric, mxm_ids = all_lyric[order], mxm_ids[order]
    is_bad = np.isin(all_lyric, bad_lyric_tracks)
    good_tracks, good_mxm = all_lyric[~is_bad], mxm_ids[~is_bad]
    bad_pos = np.flatnonzero(is_bad) - np.arange(is_bad.sum())  # before this good line
    bad_kind = {int(t): d for t, d in zip(bad_lyric_tracks.tolist(), LYRIC_DEFECTS, strict=True)}
    bad_songs = cat.track_song[all_lyric[is_bad]]
    b_line, b_word, b_cnt = _lyric_bags(
        rng,
        cat.song_genre[bad_songs],
        cat.song_topic[bad_songs],
        p.n_genres,
        p.vocab_size,
        seg_words,
        seg_pick,
    )
    bad_inserts = []
    lyrics_malformed: dict[str, int] = {}
    for i, t in enumerate(all_lyric[is_bad].tolist()):
        reason, v = bad_kind[t]
        sel = b_line == i
        line = _bad_lyric(
            reason,
            v,
            cat.tid_str[t],
            int(mxm_ids[is_bad][i]),
            b_word[sel],
            b_cnt[sel],
            p.vocab_size,
        )
        bad_inserts.append((int(bad_pos[i]), line, reason))
        lyrics_malformed[reason] = lyrics_malformed.get(reason, 0) + 1

    header = (
        "# TRAINING SET\n"
        "# MusiXmatch dataset, the official lyrics dataset\n"
        "# of the Million Song Dataset\n"
        f"#    SYNTHETIC SAMPLE written by sampledata (size {p.name}, seed {seed})\n"
        "#    same format as http://labrosa.ee.columbia.edu/millionsong/musixmatch\n"
        "# FORMAT:\n"
        "#     #   - comment, to ignore\n"
        "#     %   - list of top words, comma-separated\n"
        "#         - normal line, contains track_id, mxm track id,\n"
        "#           then word count for each of the top words, comma-separated\n"
        "#           word count is in sparse format -> ...,<word idx>:<cnt>,...\n"
        "#           <word idx> starts at 1 (not zero!)\n"
        "# All our work is done using UTF-8 encoding.\n"
        "# enjoy!\n"
    )
    lyric_rows_before = header.count("\n") + 1  # comments and the word list
    lyrics_malformed_at: dict[str, list[int]] = {}
    for k, (pos, _text, reason) in enumerate(bad_inserts):  # sorted by position
        lyrics_malformed_at.setdefault(reason, []).append(lyric_rows_before + pos + k + 1)
    f = _Out(out / LYRICS_FILE, gzip)
    try:
        f.write(header.encode() + ("%" + ",".join(vocab) + "\n").encode())
        n_good = good_tracks.size
        for start in range(0, max(n_good, 1), LYRIC_CHUNK):
            stop = start + LYRIC_CHUNK
            tr = good_tracks[start:stop]
            songs = cat.track_song[tr]
            bags = _lyric_bags(
                rng,
                cat.song_genre[songs],
                cat.song_topic[songs],
                p.n_genres,
                p.vocab_size,
                seg_words,
                seg_pick,
            )
            blob, line_len = _format_lyrics(cat.tid[tr], good_mxm[start:stop], *bags)
            inserts = [
                (pos - start, text)
                for pos, text, _ in bad_inserts
                if start <= pos < stop or (stop >= n_good and pos >= stop)
            ]
            f.write(_insert_lines(blob, line_len, inserts))
    finally:
        f.close()
    files[f.name] = f.lines

    # --- songs.csv
    has_lyrics = np.bincount(cat.track_song[good_tracks], minlength=n_songs) > 0
    cold_actual = ~trip["played_any"]
    with open(planted_dir / "songs.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            [
                "song_id",
                "genre",
                "artist",
                "has_lyrics",
                "cold",
                "mismatched",
                "topic",
                "n_tracks",
                "pop_rank",
            ]
        )
        w.writerows(
            [
                cat.sid_str[s],
                cat.genres[cat.song_genre[s]],
                cat.artist_names[cat.song_artist[s]],
                bool(has_lyrics[s]),
                bool(cold_actual[s]),
                bool(mismatched[s]),
                int(cat.song_topic[s]),
                int(song_n_tracks[s]),
                int(cat.pop_rank[s]),
            ]
            for s in range(n_songs)
        )

    mm_song_ids = {x[0] for x in mm_pairs}
    trip_malformed = {r: len(v) for r, v in trip["malformed_lines"].items()}
    planted = {
        "size": p.name,
        "seed": seed,
        "gzip": gzip,
        "preset": asdict(p),
        "n_genres": p.n_genres,
        "genres": cat.genres,
        "n_topics_per_genre": p.n_topics,
        "vocab_size": p.vocab_size,
        "n_users": p.n_users,
        "files": files,
        "triplet_lines": files[trip["file"].name],
        "triplet_malformed": trip_malformed,
        "triplet_malformed_line_numbers": trip["malformed_lines"],
        "triplet_valid_lines": trip["valid"],
        "duplicate_triplet_lines": trip["dup"],
        "duplicate_triplet_lines_kept": trip["dup_kept"],
        "mismatch_lines": len(mm_pairs),
        "mismatched_song_ids": len(mm_song_ids),
        "mismatched_track_ids": len({x[1] for x in mm_pairs}),
        "mismatched_catalogue_songs": int(mismatched.sum()),
        "mismatched_songs_played": int((mismatched & trip["played_any"]).sum()),
        "triplet_valid_lines_with_mismatched_song": trip["mism_lines"],
        "expected_interactions": trip["interactions"],
        "expected_users": trip["users"],
        "expected_played_songs": int(trip["played_kept"].sum()),
        "total_plays_expected": trip["plays"],
        "single_play_users": trip["single"],
        "preferred_genre_line_share": round(trip["pref_lines"] / max(trip["valid"], 1), 4),
        "favourite_topic_draw_share": TOPIC_SHARE,
        "catalogue_songs": n_songs,
        "catalogue_tracks": n_tracks,
        "catalogue_songs_kept": int((~mismatched).sum()),
        "catalogue_tracks_kept": int((~mismatched[cat.track_song]).sum()),
        "played_songs_not_in_catalogue": 0,
        "songs_with_two_tracks": int((song_n_tracks == 2).sum()),
        "tracks_malformed": tracks_malformed,
        "tracks_malformed_line_numbers": tracks_malformed_at,
        "lyrics_tracks": int(good_tracks.size),
        "lyrics_malformed": lyrics_malformed,
        "lyrics_malformed_line_numbers": lyrics_malformed_at,
        "lyrics_lines_with_mismatched_song": int(mismatched[cat.track_song[good_tracks]].sum()),
        "lyrics_lines_with_mismatched_track": int(track_mismatched[good_tracks].sum()),
        "songs_with_lyrics": int((has_lyrics & ~mismatched).sum()),
        "songs_without_lyrics": int((~has_lyrics & ~mismatched).sum()),
        "cold_songs": int((cold_actual & ~mismatched).sum()),
        "cold_songs_incl_mismatched": int(cold_actual.sum()),
    }
    (planted_dir / "planted.json").write_text(json.dumps(planted, indent=2) + "\n")
    return planted


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sampledata --size tiny --out DIR [--seed N] [--gzip]``."""
    ap = argparse.ArgumentParser(
        prog="python -m sampledata", description="Write synthetic sample data."
    )
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument(
        "--triplets", type=int, default=0, help="scale --size to about this many triplet lines"
    )
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--gzip", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    size = preset_for_triplets(args.triplets, args.size) if args.triplets else args.size
    planted = generate(args.out, size=size, seed=args.seed, gzip=args.gzip)
    secs = time.perf_counter() - t0
    print(
        f"wrote {planted['size']} sample data to {args.out} in {secs:.2f}s: "
        + ", ".join(f"{k} {v:,} lines" for k, v in planted["files"].items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
