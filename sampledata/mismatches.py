"""The Taste Profile ``sid_mismatches.txt``: songs whose audio matched the wrong track.

It lists popular songs (so triplet lines are dropped), cold songs, and orphan ids found in
no other file, one or two tracks each, with one line repeated as in the real file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sampledata.catalogue import Catalogue, SpareIds, n_orphan_songs
from sampledata.files import MISMATCHES_FILE, OutFile, write_file
from sampledata.presets import MISMATCH_COLD_SHARE, MISMATCH_PLAYED_SHARE, SizePreset


@dataclass
class MismatchPlan:
    """The lines of the mismatch file, drawn before any file is written."""

    mismatched: np.ndarray  # per catalogue song
    track_mismatched: np.ndarray  # per catalogue track
    pairs: list[tuple[str, str, int]]  # (song id, track id, song index or -1) of each line
    other: list[int]  # the catalogue song each line names as the wrong match
    source: list[int]  # the pair each line repeats (itself, but for the repeated line)
    order: np.ndarray  # the order the lines are written in

    def song_ids(self) -> set[str]:
        return {x[0] for x in self.pairs}

    def track_ids(self) -> set[str]:
        return {x[1] for x in self.pairs}


def _mismatched_songs(p: SizePreset, cat: Catalogue, rng: np.random.Generator) -> np.ndarray:
    """Catalogue songs in the list: some of the most popular of a genre, some cold ones."""
    popular = np.flatnonzero((cat.pop_rank >= 0) & (cat.pop_rank < 0.2 * cat.warm_per_genre.min()))
    n_mm_pop = min(popular.size, max(2, round(MISMATCH_PLAYED_SHARE * p.n_songs)))
    cold_ids = np.flatnonzero(cat.cold)
    n_mm_cold = min(cold_ids.size, max(1, round(MISMATCH_COLD_SHARE * p.n_songs)))
    return np.sort(
        np.concatenate(
            [
                rng.choice(popular, n_mm_pop, replace=False),
                rng.choice(cold_ids, n_mm_cold, replace=False),
            ]
        )
    )


def plan_mismatches(
    p: SizePreset, cat: Catalogue, rng: np.random.Generator, spares: SpareIds
) -> MismatchPlan:
    """Draw the mismatch list; orphan ids are taken from ``spares``."""
    mm_songs = _mismatched_songs(p, cat, rng)
    mismatched = np.zeros(p.n_songs, dtype=bool)
    mismatched[mm_songs] = True
    pairs: list[tuple[str, str, int]] = []
    track_mismatched = np.zeros(cat.track_song.size, dtype=bool)
    for s in mm_songs.tolist():
        t0 = int(cat.first_track[s])
        picks = [t0 + int(rng.integers(cat.song_n_tracks[s]))]
        if cat.song_n_tracks[s] == 2 and rng.random() < 0.5:
            picks = [t0, t0 + 1]
        for t in picks:
            track_mismatched[t] = True
            pairs.append((cat.sid_str[s], cat.tid_str[t], s))
    for i in range(n_orphan_songs(p.n_songs)):
        sid = spares.song()
        pairs.append((sid, spares.track(), -1))
        if i % 10 == 1:
            pairs.append((sid, spares.track(), -1))  # one song id, two tracks
    other = rng.integers(0, p.n_songs, size=len(pairs)).tolist()
    pairs.append(pairs[0])  # an identical repeated line, as in the real file
    other.append(other[0])
    source = list(range(len(pairs) - 1)) + [0]
    return MismatchPlan(
        mismatched, track_mismatched, pairs, other, source, rng.permutation(len(pairs))
    )


def write_mismatches(
    out_dir: Path,
    plan: MismatchPlan,
    cat: Catalogue,
    name_words: list[str],
    vocab: list[str],
    use_gzip: bool,
) -> OutFile:
    """Write the planned lines; an orphan's artist and title are made up from words."""
    lines = []
    for j in plan.order.tolist():
        sid, tid, s = plan.pairs[j]
        src = plan.source[j]
        if s >= 0:
            a1, t1 = cat.artist_names[cat.song_artist[s]], cat.titles[s]
        else:
            a1, t1 = name_words[src % len(name_words)].capitalize(), vocab[src].capitalize()
        o = plan.other[j]
        a2, t2 = cat.artist_names[cat.song_artist[o]], cat.titles[o]
        lines.append(f"ERROR: <{sid} {tid}> {a1}  -  {t1}  !=  {a2}  -  {t2}\n")
    return write_file(out_dir / MISMATCHES_FILE, use_gzip, "".join(lines).encode("utf-8"))
