"""What ``_planted/`` records: ``planted.json`` (exact counts) and ``songs.csv``.

Every count in ``planted.json`` is exact. Definitions (lines are raw lines, a line is
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

``_planted/users.csv`` (each user's genres and favourite topics) is written beside the
triplets, by :func:`sampledata.triplets.write_triplets`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from sampledata.catalogue import Catalogue, TrackFile
from sampledata.lyrics import LyricFile
from sampledata.mismatches import MismatchPlan
from sampledata.presets import TOPIC_SHARE, SizePreset
from sampledata.triplets import TripletStats

_SONG_COLUMNS = (
    "song_id",
    "genre",
    "artist",
    "has_lyrics",
    "cold",
    "mismatched",
    "topic",
    "n_tracks",
    "pop_rank",
)


def write_songs_csv(
    planted_dir: Path,
    cat: Catalogue,
    has_lyrics: np.ndarray,
    cold: np.ndarray,
    mismatched: np.ndarray,
) -> None:
    """``songs.csv``: each catalogue song's genre, artist, topic and planted flags."""
    with open(planted_dir / "songs.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(list(_SONG_COLUMNS))
        w.writerows(
            [
                cat.sid_str[s],
                cat.genres[cat.song_genre[s]],
                cat.artist_names[cat.song_artist[s]],
                bool(has_lyrics[s]),
                bool(cold[s]),
                bool(mismatched[s]),
                int(cat.song_topic[s]),
                int(cat.song_n_tracks[s]),
                int(cat.pop_rank[s]),
            ]
            for s in range(cat.song_genre.size)
        )


def planted_counts(
    p: SizePreset,
    seed: int,
    use_gzip: bool,
    cat: Catalogue,
    files: dict[str, int],
    trip: TripletStats,
    mm: MismatchPlan,
    tracks: TrackFile,
    lyrics: LyricFile,
) -> dict:
    """The content of ``planted.json``: the preset, and every count defined above."""
    n_tracks = cat.track_song.size
    mismatched, good_tracks = mm.mismatched, lyrics.good_tracks
    has_lyrics = lyrics.song_has_lyrics(cat)
    cold_actual = ~trip.played_any
    return {
        "size": p.name,
        "seed": seed,
        "gzip": use_gzip,
        "preset": asdict(p),
        "n_genres": p.n_genres,
        "genres": cat.genres,
        "n_topics_per_genre": p.n_topics,
        "vocab_size": p.vocab_size,
        "n_users": p.n_users,
        "files": files,
        "triplet_lines": trip.lines,
        "triplet_malformed": {r: len(v) for r, v in trip.malformed_lines.items()},
        "triplet_malformed_line_numbers": trip.malformed_lines,
        "triplet_valid_lines": trip.valid,
        "duplicate_triplet_lines": trip.dup,
        "duplicate_triplet_lines_kept": trip.dup_kept,
        "mismatch_lines": len(mm.pairs),
        "mismatched_song_ids": len(mm.song_ids()),
        "mismatched_track_ids": len(mm.track_ids()),
        "mismatched_catalogue_songs": int(mismatched.sum()),
        "mismatched_songs_played": int((mismatched & trip.played_any).sum()),
        "triplet_valid_lines_with_mismatched_song": trip.mism_lines,
        "expected_interactions": trip.interactions,
        "expected_users": trip.users,
        "expected_played_songs": int(trip.played_kept.sum()),
        "total_plays_expected": trip.plays,
        "single_play_users": trip.single,
        "preferred_genre_line_share": round(trip.pref_lines / max(trip.valid, 1), 4),
        "favourite_topic_draw_share": TOPIC_SHARE,
        "catalogue_songs": p.n_songs,
        "catalogue_tracks": n_tracks,
        "catalogue_songs_kept": int((~mismatched).sum()),
        "catalogue_tracks_kept": int((~mismatched[cat.track_song]).sum()),
        "played_songs_not_in_catalogue": 0,
        "songs_with_two_tracks": int((cat.song_n_tracks == 2).sum()),
        "tracks_malformed": tracks.malformed,
        "tracks_malformed_line_numbers": tracks.malformed_at,
        "lyrics_tracks": int(good_tracks.size),
        "lyrics_malformed": lyrics.malformed,
        "lyrics_malformed_line_numbers": lyrics.malformed_at,
        "lyrics_lines_with_mismatched_song": int(mismatched[cat.track_song[good_tracks]].sum()),
        "lyrics_lines_with_mismatched_track": int(mm.track_mismatched[good_tracks].sum()),
        "songs_with_lyrics": int((has_lyrics & ~mismatched).sum()),
        "songs_without_lyrics": int((~has_lyrics & ~mismatched).sum()),
        "cold_songs": int((cold_actual & ~mismatched).sum()),
        "cold_songs_incl_mismatched": int(cold_actual.sum()),
    }


def write_planted(planted_dir: Path, planted: dict) -> None:
    """Write ``planted.json``."""
    (planted_dir / "planted.json").write_text(json.dumps(planted, indent=2) + "\n")
