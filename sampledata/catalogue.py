"""The song catalogue: genres, artists, lyric topics, popularity, ids and tracks.

:func:`build_catalogue` draws it; :func:`write_tracks` writes it as ``unique_tracks.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sampledata.defects import TRACK_DEFECTS, bad_track
from sampledata.encoding import id_strings, msd_ids
from sampledata.files import TRACKS_FILE, OutFile, write_file
from sampledata.presets import COLD_SHARE, MISMATCH_ORPHAN_SHARE, TWO_TRACK_SHARE, SizePreset
from sampledata.sampling import InverseCdf, segment_cdf
from sampledata.words import artist_names, titles

GENRE_NAMES = tuple(
    "rock hiphop electronic jazz country latin metal folk classical reggae blues soul".split()
)


@dataclass
class Catalogue:
    """Songs (index ``s``) and tracks (index ``t``) with what the generator planted in them."""

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
    track_song: np.ndarray  # song of each track, tracks grouped by song
    first_track: np.ndarray  # first track of each song
    song_n_tracks: np.ndarray  # tracks of each song (1 or 2)
    tid: np.ndarray
    tid_str: list[str]
    genre_weight: np.ndarray
    warm_songs: np.ndarray  # warm song indices grouped by genre
    warm_pick: InverseCdf  # over genre + cumulative share within the genre
    warm_per_genre: np.ndarray
    topic_songs: np.ndarray  # warm song indices grouped by global topic
    topic_pick: InverseCdf  # over global topic + cumulative share within the topic
    warm_per_topic: np.ndarray
    spare_sids: list[str]  # ids used nowhere else (orphans, malformed lines)
    spare_tids: list[str]


class SpareIds:
    """The catalogue's spare song and track ids, handed out from the end of each list."""

    def __init__(self, cat: Catalogue) -> None:
        self._songs = list(cat.spare_sids)
        self._tracks = list(cat.spare_tids)

    def song(self) -> str:
        return self._songs.pop()

    def track(self) -> str:
        return self._tracks.pop()


def n_orphan_songs(n_songs: int) -> int:
    """Song ids found only in the mismatch list."""
    return max(2, round(MISMATCH_ORPHAN_SHARE * n_songs))


def _songs_by_genre(
    p: SizePreset, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Genre, artist, global topic, popularity rank and cold flag of each song.

    Returns
    -------
    tuple
        ``(song_genre, song_artist, song_topic, pop_rank, cold, n_artists)``.
    """
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
    return song_genre, song_artist, song_topic, pop_rank, cold, n_artists


def _ids(p: SizePreset, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Song ids, the song of each track and track ids, spare ids after the catalogue's.

    Returns
    -------
    tuple of ndarray
        ``(sid, track_song, tid)``.
    """
    n_songs = p.n_songs
    n_spare = n_orphan_songs(n_songs) + 2 * len(TRACK_DEFECTS) + 8
    sid = msd_ids(rng, n_songs + n_spare, b"SO")
    n_tracks = 1 + (rng.random(n_songs) < TWO_TRACK_SHARE)
    track_song = np.repeat(np.arange(n_songs), n_tracks)
    tid = msd_ids(rng, track_song.size + 2 * n_spare, b"TR")
    return sid, track_song, tid


def build_catalogue(p: SizePreset, rng: np.random.Generator, words: list[str]) -> Catalogue:
    """Draw the catalogue of preset ``p``; artist names and titles are made from ``words``."""
    n_songs, n_genres = p.n_songs, p.n_genres
    song_genre, song_artist, song_topic, pop_rank, cold, n_artists = _songs_by_genre(p, rng)
    sid, track_song, tid = _ids(p, rng)
    sid_str, tid_str = id_strings(sid), id_strings(tid)
    song_sid = sid[:n_songs]
    song_rank = np.empty(n_songs, dtype=np.int64)
    song_rank[np.argsort(song_sid.view("S18").ravel(), kind="stable")] = np.arange(n_songs)

    weight = np.where(cold, 0.0, (pop_rank + 2.0) ** -p.zipf_exponent)
    warm = np.flatnonzero(~cold)
    warm_songs, warm_cdf, warm_per_genre = segment_cdf(
        warm, song_genre[warm], weight[warm], n_genres
    )
    topic_songs, topic_cdf, warm_per_topic = segment_cdf(
        warm, song_topic[warm], weight[warm], n_genres * p.n_topics
    )
    # Drawn in this order: names, titles, genre weights.
    names = artist_names(rng, n_artists, words)
    song_titles = titles(rng, n_songs, words)
    genre_weight = rng.uniform(0.6, 1.4, size=n_genres)
    return Catalogue(
        genres=list(GENRE_NAMES[:n_genres]),
        song_genre=song_genre,
        song_artist=song_artist,
        song_topic=song_topic,
        pop_rank=pop_rank,
        cold=cold,
        sid=np.ascontiguousarray(song_sid),
        sid_str=sid_str[:n_songs],
        song_rank=song_rank,
        artist_names=names,
        titles=song_titles,
        track_song=track_song,
        first_track=np.searchsorted(track_song, np.arange(n_songs)),
        song_n_tracks=np.bincount(track_song, minlength=n_songs),
        tid=tid[: track_song.size],
        tid_str=tid_str[: track_song.size],
        genre_weight=genre_weight,
        warm_songs=warm_songs,
        warm_pick=InverseCdf(warm_cdf, 1 << 17),
        warm_per_genre=warm_per_genre,
        topic_songs=topic_songs,
        topic_pick=InverseCdf(topic_cdf, 1 << 15),
        warm_per_topic=warm_per_topic,
        spare_sids=sid_str[n_songs:],
        spare_tids=tid_str[track_song.size :],
    )


@dataclass
class TrackFile:
    """The written ``unique_tracks.txt`` and its malformed lines by reason."""

    file: OutFile
    malformed: dict[str, int]
    malformed_at: dict[str, list[int]]  # 1-based line numbers


def write_tracks(
    out_dir: Path, cat: Catalogue, rng: np.random.Generator, spares: SpareIds, use_gzip: bool
) -> TrackFile:
    """Write every track in random order, with :data:`TRACK_DEFECTS` lines among them."""
    n_tracks = cat.track_song.size
    track_lines = [
        f"{cat.tid_str[t]}<SEP>{cat.sid_str[s]}<SEP>{cat.artist_names[cat.song_artist[s]]}"
        f"<SEP>{cat.titles[s]}\n"
        for t, s in enumerate(cat.track_song.tolist())
    ]
    track_lines = [track_lines[i] for i in rng.permutation(n_tracks).tolist()]
    malformed: dict[str, int] = {}
    malformed_at: dict[str, list[int]] = {}
    positions = np.sort(rng.choice(np.arange(1, n_tracks), len(TRACK_DEFECTS), replace=False))
    for i, ((reason, v), pos) in enumerate(zip(TRACK_DEFECTS, positions.tolist(), strict=True)):
        t, s = spares.track(), spares.song()
        track_lines.insert(pos + i, bad_track(reason, v, t, s, cat.artist_names[i], cat.titles[i]))
        malformed[reason] = malformed.get(reason, 0) + 1
        malformed_at.setdefault(reason, []).append(pos + i + 1)
    f = write_file(out_dir / TRACKS_FILE, use_gzip, "".join(track_lines).encode("utf-8"))
    return TrackFile(f, malformed, malformed_at)
