"""Malformed lines of each file: one defect each, named by the reason code the ingest uses."""

from __future__ import annotations

import numpy as np

MAX_PLAY_COUNT = 100_000  # the ingest's upper bound on a play count

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


def bad_triplet(reason: str, variant: int, uid: bytes, sid: bytes, plays: int) -> bytes:
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


def bad_track(reason: str, variant: int, tid: str, sid: str, artist: str, title: str) -> str:
    """One malformed ``unique_tracks.txt`` line whose only defect is ``reason``."""
    return {
        ("wrong_field_count", 0): f"{tid}<SEP>{sid}<SEP>{artist}\n",
        ("wrong_field_count", 1): f"{tid}<SEP>{sid}<SEP>{artist}<SEP>{title}<SEP>{title}\n",
        ("empty_id", 0): f"<SEP>{sid}<SEP>{artist}<SEP>{title}\n",
        ("empty_id", 1): f"{tid}<SEP><SEP>{artist}<SEP>{title}\n",
    }[(reason, variant)]


def bad_lyric(
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
