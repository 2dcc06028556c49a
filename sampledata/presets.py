"""How big a generated data set is (:class:`SizePreset`), and the shares every size shares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

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
    lyric_defect_variants : int
        Variants of each malformed lyric reason written (tiny writes one of each: its ~300
        lyric lines then stay under the ingest's default 1% limit).
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
    lyric_defect_variants: int = 2


SIZES: dict[str, SizePreset] = {
    "tiny": SizePreset(
        "tiny", 250, 400, 4, 3, 1_000, 20.0, 0.9, 120, 5_000, 2, 0.9, lyric_defect_variants=1
    ),
    "small": SizePreset("small", 17_000, 10_000, 8, 4, 5_000, 17.0, 1.1, 1_500, 10_000, 3),
    "large": SizePreset("large", 200_000, 50_000, 8, 4, 5_000, 16.0, 1.1, 2_000, 20_000, 4),
}

# Triplet lines each preset writes with seed 42 (see _planted/planted.json), for scaling.
BASE_TRIPLET_LINES = {"tiny": 6_130, "small": 500_046}


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
