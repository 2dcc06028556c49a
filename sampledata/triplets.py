"""The Taste Profile triplet file and ``_planted/users.csv``, streamed chunk by chunk.

Each chunk of users has its own generator (``[seed, 7, chunk]``), and the malformed lines
their own (``[seed, 3]``), so a chunk's lines do not depend on the chunks before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from sampledata.catalogue import Catalogue
from sampledata.defects import TRIPLET_REASONS, bad_triplet
from sampledata.encoding import const, digits, id_strings, insert_lines, pack
from sampledata.files import TRIPLETS_FILE, OutFile
from sampledata.presets import SizePreset
from sampledata.users import UserChunk, user_chunk

# A malformed line planted in a chunk: (where, as a share of its lines; reason; variant).
_Defect = tuple[float, str, int]


@dataclass
class TripletStats:
    """What the triplet file holds, counted while writing it (see :mod:`sampledata.planted`)."""

    played_any: np.ndarray  # per catalogue song: on a valid line
    played_kept: np.ndarray  # per catalogue song: on a valid line, and not mismatched
    file_name: str = ""
    lines: int = 0  # every line, malformed ones included
    malformed_lines: dict[str, list[int]] = field(
        default_factory=lambda: {r: [] for r in TRIPLET_REASONS}
    )
    valid: int = 0
    dup: int = 0
    dup_kept: int = 0
    mism_lines: int = 0
    interactions: int = 0
    users: int = 0
    plays: int = 0
    single: int = 0
    pref_lines: int = 0

    def count(self, ch: UserChunk, cat: Catalogue, mismatched: np.ndarray) -> None:
        """Add the valid lines of one chunk."""
        n = ch.uid.shape[0]
        mism = mismatched[ch.line_song]
        kept = ~mism
        self.valid += ch.line_user.size
        self.dup += int(ch.line_dup.sum())
        self.dup_kept += int((ch.line_dup & kept).sum())
        self.mism_lines += int(mism.sum())
        self.interactions += int((kept & ~ch.line_dup).sum())
        self.plays += int(ch.line_plays[kept].sum())
        user_plays = np.bincount(ch.line_user[kept], weights=ch.line_plays[kept], minlength=n)
        user_lines = np.bincount(ch.line_user[kept], minlength=n)
        self.users += int((user_lines > 0).sum())
        self.single += int(((user_lines > 0) & (user_plays == 1)).sum())
        in_pref = (ch.pref[ch.line_user] == cat.song_genre[ch.line_song][:, None]).any(axis=1)
        self.pref_lines += int(in_pref.sum())
        self.played_any[ch.line_song] = True
        self.played_kept[ch.line_song[kept]] = True


def _combos(n_genres: int) -> list[tuple[int, ...]]:
    """Sorted genre combinations of 1 to 3 genres."""
    return [c for k in (1, 2, 3) for c in combinations(range(n_genres), k)]


def _defect_plan(p: SizePreset, seed: int, n_chunks: int) -> dict[int, list[_Defect]]:
    """The malformed lines of each chunk: ``malformed_per_reason`` of every reason in all."""
    defect_rng = np.random.default_rng([seed, 3])
    defects: dict[int, list[_Defect]] = {c: [] for c in range(n_chunks)}
    for reason in TRIPLET_REASONS:
        for v in range(p.malformed_per_reason):
            c = int(defect_rng.integers(n_chunks))
            defects[c].append((float(defect_rng.uniform(0.02, 0.98)), reason, v))
    return defects


def _chunk_bytes(
    ch: UserChunk, cat: Catalogue, defects: list[_Defect]
) -> tuple[bytes, list[tuple[int, str]]]:
    """The chunk's lines with its malformed lines inserted, and ``(position, reason)`` of
    each of those, by position (before that valid line)."""
    n_lines = ch.line_user.size
    play_digits, play_mask = digits(ch.line_plays)
    blob, row_len = pack(
        [
            (ch.uid[ch.line_user], None),
            (const(n_lines, b"\t"), None),
            (cat.sid[ch.line_song], None),
            (const(n_lines, b"\t"), None),
            (play_digits, play_mask),
            (const(n_lines, b"\n"), None),
        ]
    )
    inserts, where = [], []
    for frac, reason, v in sorted(defects):
        pos = min(max(1, int(frac * n_lines)), max(n_lines - 1, 0))
        line = bad_triplet(
            reason,
            v,
            ch.uid[ch.line_user[pos]].tobytes(),
            cat.sid[ch.line_song[pos]].tobytes(),
            int(ch.line_plays[pos]),
        )
        inserts.append((pos, line))
        where.append((pos, reason))
    return insert_lines(blob, row_len, inserts), where


def _user_rows(
    ch: UserChunk, n_genres: int, genre_csv: list[str], combo_index: dict[tuple[int, ...], int]
) -> str:
    """``users.csv`` rows of a chunk: user id, preferred genres, favourite topic of each."""
    sorted_pref = np.sort(ch.pref, axis=1)
    uids = id_strings(ch.uid)
    combos = [combo_index[tuple(g for g in row if g < n_genres)] for row in sorted_pref.tolist()]
    topics = [
        "|".join(str(ch.favourite[i, g]) for g in row if g < n_genres)
        for i, row in enumerate(sorted_pref.tolist())
    ]
    return "".join(
        f"{u},{genre_csv[k]},{t}\n" for u, k, t in zip(uids, combos, topics, strict=True)
    )


def write_triplets(
    out_dir: Path,
    p: SizePreset,
    cat: Catalogue,
    seed: int,
    use_gzip: bool,
    mismatched: np.ndarray,
    planted_dir: Path,
) -> TripletStats:
    """Stream the triplet file and ``users.csv``; return the triplet counts."""
    n_chunks = -(-p.n_users // p.chunk_users)
    chunk_sizes = [min(p.chunk_users, p.n_users - c * p.chunk_users) for c in range(n_chunks)]
    defects = _defect_plan(p, seed, n_chunks)
    stats = TripletStats(np.zeros(p.n_songs, dtype=bool), np.zeros(p.n_songs, dtype=bool))
    genre_csv = ["|".join(cat.genres[g] for g in combo) for combo in _combos(p.n_genres)]
    combo_index = {c: i for i, c in enumerate(_combos(p.n_genres))}
    lines_before = 0
    with (
        OutFile(out_dir / TRIPLETS_FILE, use_gzip) as out,
        open(planted_dir / "users.csv", "w", encoding="utf-8", newline="") as users_csv,
    ):
        users_csv.write("user_id,genres,favourite_topics\n")
        for c, n in enumerate(chunk_sizes):
            ch = user_chunk(p, cat, np.random.default_rng([seed, 7, c]), n, mismatched)
            data, where = _chunk_bytes(ch, cat, defects[c])
            for i, (pos, reason) in enumerate(where):
                stats.malformed_lines[reason].append(lines_before + pos + i + 1)
            out.write(data)
            lines_before += ch.line_user.size + len(where)
            stats.count(ch, cat, mismatched)
            users_csv.write(_user_rows(ch, p.n_genres, genre_csv, combo_index))
    stats.file_name, stats.lines = out.name, out.lines
    return stats
