"""The musiXmatch bag-of-words file: which tracks have lyrics, and the words in them.

A lyric mixes common words, words of the song's genre and words of its topic
(:data:`~sampledata.presets.WORD_MIX`), so the content model can find genre and topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sampledata.catalogue import Catalogue
from sampledata.defects import LYRIC_DEFECTS, bad_lyric
from sampledata.encoding import digits, insert_lines
from sampledata.files import LYRICS_FILE, OutFile
from sampledata.presets import (
    LYRICS_SHARE_COLD,
    LYRICS_SHARE_WARM,
    SECOND_TRACK_LYRICS_SHARE,
    WORD_MIX,
    SizePreset,
)
from sampledata.sampling import InverseCdf

LYRIC_CHUNK = 20_000  # lyric lines generated and written per chunk

# A malformed line to insert: (before this valid line, the line, its reason).
_BadLine = tuple[int, bytes, str, int]  # position, line, reason, variant


@dataclass
class LyricPlan:
    """Which tracks get a lyric line, drawn before any file is written."""

    lyric_track: np.ndarray  # per track: a valid lyric line
    bad_tracks: np.ndarray  # tracks with only a malformed line, one per LYRIC_DEFECTS entry


def plan_lyrics(
    cat: Catalogue, rng: np.random.Generator, track_mismatched: np.ndarray
) -> LyricPlan:
    """Lyrics for most songs on one track, for some two-track songs on both."""
    n_songs = cat.song_n_tracks.size
    first_track, song_n_tracks = cat.first_track, cat.song_n_tracks
    has_lyrics_plan = rng.random(n_songs) < np.where(cat.cold, LYRICS_SHARE_COLD, LYRICS_SHARE_WARM)
    lyric_track = np.zeros(cat.track_song.size, dtype=bool)
    primary = first_track + (rng.random(n_songs) * song_n_tracks).astype(np.int64)
    lyric_track[primary[has_lyrics_plan]] = True
    both = (
        has_lyrics_plan & (song_n_tracks == 2) & (rng.random(n_songs) < SECOND_TRACK_LYRICS_SHARE)
    )
    lyric_track[first_track[both]] = True
    lyric_track[first_track[both] + 1] = True
    no_lyric_tracks = np.flatnonzero(~lyric_track & ~cat.cold[cat.track_song] & ~track_mismatched)
    bad_tracks = rng.choice(no_lyric_tracks, len(LYRIC_DEFECTS), replace=False)
    return LyricPlan(lyric_track, bad_tracks)


@dataclass
class WordSampler:
    """Word indices (1-based) segment after segment, and a sampler over them.

    Segment 0 holds the common words (the lowest indices, most frequent first), segments
    ``1 .. G`` the genre words and ``1 + G + topic`` the topic words.
    """

    words: np.ndarray
    pick: InverseCdf
    n_genres: int
    vocab_size: int

    def bags(
        self, rng: np.random.Generator, genre: np.ndarray, topic: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bags of words for lyric lines: ``(line, word index, count)`` sorted by line, word."""
        n = genre.size
        length = np.rint(rng.lognormal(np.log(80.0), 0.6, size=n))
        line = np.repeat(np.arange(n), np.clip(length, 8, 600).astype(np.int64))
        r = rng.random(line.size)
        seg = np.where(
            r < WORD_MIX[0],
            0,
            np.where(
                r < WORD_MIX[0] + WORD_MIX[1], 1 + genre[line], 1 + self.n_genres + topic[line]
            ),
        )
        u = np.minimum(rng.random(line.size), 1.0 - 1e-9)
        word = self.words[self.pick(seg + u)]
        v1 = self.vocab_size + 1
        keys, cnt = np.unique(line * v1 + word, return_counts=True)
        return keys // v1, keys % v1, cnt


def word_sampler(p: SizePreset, rng: np.random.Generator) -> WordSampler:
    """Split the vocabulary into common, genre and topic words (Zipf-weighted in each)."""
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
    return WordSampler(words, InverseCdf(cdf, 1 << 14), n_genres, v)


def format_lyrics(
    tid: np.ndarray, mxm: np.ndarray, line: np.ndarray, word: np.ndarray, cnt: np.ndarray
) -> tuple[bytes, np.ndarray]:
    """Pack lyric lines ``track_id,mxm_id,idx:cnt,...`` into bytes; return per-line lengths.

    Each line is a prefix row (track and mxm id) followed by one row per word.
    """
    n_lines, n_tok = tid.shape[0], line.size
    n_rows = n_lines + n_tok
    per_line = np.bincount(line, minlength=n_lines)
    starts = np.concatenate([[0], np.cumsum(per_line)[:-1]])
    prefix_rows = starts + np.arange(n_lines)
    token_rows = np.arange(n_tok) + line + 1
    last = np.zeros(n_tok, dtype=bool)
    last[np.cumsum(per_line) - 1] = True

    m_d, m_k = digits(mxm)
    w_d, w_k = digits(word)
    c_d, c_k = digits(cnt)
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


def _header(p: SizePreset, seed: int) -> str:
    """The comment lines the real file starts with, naming the preset and seed."""
    return (
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


def _line_order(
    cat: Catalogue, rng: np.random.Generator, plan: LyricPlan
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every lyric line's track and mxm id, sorted by track id, and which are malformed."""
    all_lyric = np.concatenate([np.flatnonzero(plan.lyric_track), plan.bad_tracks])
    mxm_ids = rng.choice(np.arange(1_000_000, 9_999_999), size=all_lyric.size, replace=False)
    order = np.argsort(cat.tid[all_lyric].view("S18").ravel(), kind="stable")
    all_lyric, mxm_ids = all_lyric[order], mxm_ids[order]
    return all_lyric, mxm_ids, np.isin(all_lyric, plan.bad_tracks)


def _bad_lines(
    cat: Catalogue,
    rng: np.random.Generator,
    sampler: WordSampler,
    plan: LyricPlan,
    all_lyric: np.ndarray,
    mxm_ids: np.ndarray,
    is_bad: np.ndarray,
) -> list[_BadLine]:
    """The malformed lines, each before the valid line it sorts ahead of."""
    bad_pos = np.flatnonzero(is_bad) - np.arange(is_bad.sum())  # before this good line
    bad_kind = {int(t): d for t, d in zip(plan.bad_tracks.tolist(), LYRIC_DEFECTS, strict=True)}
    bad_songs = cat.track_song[all_lyric[is_bad]]
    b_line, b_word, b_cnt = sampler.bags(rng, cat.song_genre[bad_songs], cat.song_topic[bad_songs])
    bad: list[_BadLine] = []
    for i, t in enumerate(all_lyric[is_bad].tolist()):
        reason, v = bad_kind[t]
        sel = b_line == i
        tid, mxm = cat.tid_str[t], int(mxm_ids[is_bad][i])
        line = bad_lyric(reason, v, tid, mxm, b_word[sel], b_cnt[sel], sampler.vocab_size)
        bad.append((int(bad_pos[i]), line, reason, v))
    return bad


def _write_lines(
    f: OutFile,
    cat: Catalogue,
    rng: np.random.Generator,
    sampler: WordSampler,
    tracks: np.ndarray,
    mxm_ids: np.ndarray,
    bad: list[_BadLine],
) -> None:
    """Draw and write the valid lines chunk by chunk, the malformed ones among them."""
    n_good = tracks.size
    for start in range(0, max(n_good, 1), LYRIC_CHUNK):
        stop = start + LYRIC_CHUNK
        tr = tracks[start:stop]
        songs = cat.track_song[tr]
        bags = sampler.bags(rng, cat.song_genre[songs], cat.song_topic[songs])
        blob, line_len = format_lyrics(cat.tid[tr], mxm_ids[start:stop], *bags)
        inserts = [
            (pos - start, text)
            for pos, text, _, _ in bad
            if start <= pos < stop or (stop >= n_good and pos >= stop)
        ]
        f.write(insert_lines(blob, line_len, inserts))


@dataclass
class LyricFile:
    """The written lyric file: its valid lines' tracks and its malformed lines by reason."""

    file: OutFile
    good_tracks: np.ndarray  # track of each valid line, in file order
    malformed: dict[str, int]
    malformed_at: dict[str, list[int]]  # 1-based line numbers

    def song_has_lyrics(self, cat: Catalogue) -> np.ndarray:
        """Per catalogue song: a valid lyric line through one of its tracks."""
        return np.bincount(cat.track_song[self.good_tracks], minlength=cat.song_genre.size) > 0


def write_lyrics(
    out_dir: Path,
    p: SizePreset,
    cat: Catalogue,
    rng: np.random.Generator,
    plan: LyricPlan,
    vocab: list[str],
    seed: int,
    use_gzip: bool,
) -> LyricFile:
    """Write the lyric file: header, word list, then lines sorted by track id."""
    sampler = word_sampler(p, rng)
    all_lyric, mxm_ids, is_bad = _line_order(cat, rng, plan)
    bad = _bad_lines(cat, rng, sampler, plan, all_lyric, mxm_ids, is_bad)
    # Every defect's track and bag is drawn (the random stream stays the same); a preset that
    # writes fewer variants leaves the other tracks without a lyric line.
    bad = [line for line in bad if line[3] < p.lyric_defect_variants]
    header = _header(p, seed)
    rows_before = header.count("\n") + 1  # comments and the word list
    malformed: dict[str, int] = {}
    malformed_at: dict[str, list[int]] = {}
    for k, (pos, _text, reason, _variant) in enumerate(bad):  # sorted by position
        malformed[reason] = malformed.get(reason, 0) + 1
        malformed_at.setdefault(reason, []).append(rows_before + pos + k + 1)
    good_tracks = all_lyric[~is_bad]
    with OutFile(out_dir / LYRICS_FILE, use_gzip) as f:
        f.write(header.encode() + ("%" + ",".join(vocab) + "\n").encode())
        _write_lines(f, cat, rng, sampler, good_tracks, mxm_ids[~is_bad], bad)
    return LyricFile(f, good_tracks, malformed, malformed_at)
