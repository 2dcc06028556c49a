"""Synthetic Million Song Dataset files with a planted structure and planted defects.

:func:`generate` writes the four raw inputs of the pipeline in the exact formats of the real
files (Taste Profile triplets, MSD ``unique_tracks.txt``, the Taste Profile
``sid_mismatches.txt`` and a musiXmatch bag-of-words file) and a ``_planted`` folder that says
what was planted, so that ingest tests can compare exact counts and quality tests can check
that the recommender finds the structure. ``recsys sample-data`` is its command line.

Planted structure: genres with artists and Zipf-popular songs, a share of cold songs nobody
plays, genre and topic specific lyric words, users who prefer one to three genres and play
mostly songs of those genres, and inside each genre mostly songs of one favourite lyric topic.
Planted defects: malformed lines with the reason code the ingest uses, duplicate (user, song)
lines, songs and tracks in the mismatch list, songs without lyrics, users with a single play.
:mod:`sampledata.planted` defines every count of ``_planted/planted.json``.

Modules, in the order :func:`generate` uses them: :mod:`~sampledata.presets` (sizes and
shares), :mod:`~sampledata.words` and :mod:`~sampledata.catalogue` (songs, artists, tracks),
:mod:`~sampledata.mismatches`, :mod:`~sampledata.users` and :mod:`~sampledata.triplets`,
:mod:`~sampledata.lyrics`, :mod:`~sampledata.planted`; below them
:mod:`~sampledata.defects` (malformed lines), :mod:`~sampledata.encoding` (numpy byte
packing), :mod:`~sampledata.sampling` and :mod:`~sampledata.files`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sampledata.catalogue import SpareIds, build_catalogue, write_tracks
from sampledata.defects import MAX_PLAY_COUNT, TRIPLET_REASONS
from sampledata.files import (
    LYRICS_FILE,
    MISMATCHES_FILE,
    PLANTED_DIR,
    TRACKS_FILE,
    TRIPLETS_FILE,
)
from sampledata.lyrics import plan_lyrics, write_lyrics
from sampledata.mismatches import plan_mismatches, write_mismatches
from sampledata.planted import planted_counts, write_planted, write_songs_csv
from sampledata.presets import SIZES, TOPIC_SHARE, SizePreset, preset_for_triplets
from sampledata.triplets import write_triplets
from sampledata.words import pseudo_words

__all__ = [
    "LYRICS_FILE",
    "MAX_PLAY_COUNT",
    "MISMATCHES_FILE",
    "PLANTED_DIR",
    "SIZES",
    "TOPIC_SHARE",
    "TRACKS_FILE",
    "TRIPLETS_FILE",
    "TRIPLET_REASONS",
    "SizePreset",
    "generate",
    "preset_for_triplets",
]


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

    # Each generator feeds the steps below in this order; reordering them changes the bytes.
    name_rng = np.random.default_rng([seed, 0])
    vocab = pseudo_words(name_rng, p.vocab_size)
    name_words = pseudo_words(name_rng, max(400, p.n_songs // 10))
    cat = build_catalogue(p, np.random.default_rng([seed, 1]), name_words)
    rng = np.random.default_rng([seed, 2])
    spares = SpareIds(cat)
    mismatches = plan_mismatches(p, cat, rng, spares)
    lyric_plan = plan_lyrics(cat, rng, mismatches.track_mismatched)

    trip = write_triplets(out, p, cat, seed, gzip, mismatches.mismatched, planted_dir)
    tracks = write_tracks(out, cat, rng, spares, gzip)
    mm_file = write_mismatches(out, mismatches, cat, name_words, vocab, gzip)
    lyrics = write_lyrics(out, p, cat, rng, lyric_plan, vocab, seed, gzip)
    files = {trip.file_name: trip.lines}
    files.update({f.name: f.lines for f in (tracks.file, mm_file, lyrics.file)})

    cold = ~trip.played_any  # songs on no valid triplet line
    write_songs_csv(planted_dir, cat, lyrics.song_has_lyrics(cat), cold, mismatches.mismatched)
    planted = planted_counts(p, seed, gzip, cat, files, trip, mismatches, tracks, lyrics)
    write_planted(planted_dir, planted)
    return planted
