"""Synthetic sample data: determinism, real-file formats, exact planted counts, structure."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import sampledata as sd
from recsys import cli
from tests.support import SHARED_DATA

DATA_FILES = (sd.TRIPLETS_FILE, sd.TRACKS_FILE, sd.MISMATCHES_FILE, sd.LYRICS_FILE)
USER_RE = re.compile(r"^[0-9a-f]{40}$")
SONG_RE = re.compile(r"^SO[A-Z0-9]{16}$")
TRACK_RE = re.compile(r"^TR[A-Z0-9]{16}$")
MISMATCH_RE = re.compile(
    r"^ERROR: <(SO[A-Z0-9]{16}) (TR[A-Z0-9]{16})> (.*?)  -  (.*)  !=  (.*?)  -  (.*)$"
)
# Several presets in one process: a tiny one cut into small chunks exercises chunk seams.
CHUNKY = dataclasses.replace(sd.SIZES["tiny"], name="chunky", n_users=230, chunk_users=37)


# ----------------------------------------------------------------------------- readers


def _raw_lines(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def read_triplets(path: Path) -> tuple[list[tuple[str, str, int]], Counter, list[int]]:
    """Valid ``(user, song, plays)`` rows, malformed reasons and their 1-based line numbers."""
    rows, bad, where = [], Counter(), defaultdict(list)
    for no, raw in enumerate(_raw_lines(path), 1):
        reason = None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            reason = "bad_encoding"
        else:
            parts = text.split("\t")
            if text.strip() == "":
                reason = "empty_line"
            elif len(parts) != 3:
                reason = "wrong_field_count"
            elif not parts[0] or not parts[1]:
                reason = "empty_id"
            elif not re.fullmatch(r"[+-]?[0-9]+", parts[2]):
                reason = "bad_play_count"
            elif not 1 <= int(parts[2]) <= sd.MAX_PLAY_COUNT:
                reason = "play_count_out_of_range"
        if reason:
            bad[reason] += 1
            where[reason].append(no)
        else:
            rows.append((parts[0], parts[1], int(parts[2])))
    return rows, bad, dict(where)


def read_tracks(path: Path) -> tuple[list[tuple[str, str, str, str]], Counter, dict]:
    """Valid ``(track, song, artist, title)`` rows, malformed reasons and their line numbers."""
    rows, bad, where = [], Counter(), defaultdict(list)
    for no, raw in enumerate(_raw_lines(path), 1):
        parts = raw.decode("utf-8").split("<SEP>")
        reason = None
        if len(parts) != 4:
            reason = "wrong_field_count"
        elif not parts[0] or not parts[1]:
            reason = "empty_id"
        if reason:
            bad[reason] += 1
            where[reason].append(no)
        else:
            rows.append(tuple(parts))
    return rows, bad, dict(where)


def read_mismatches(path: Path) -> list[tuple[str, str]]:
    """``(song, track)`` of every line; every line must parse."""
    out = []
    for raw in _raw_lines(path):
        m = MISMATCH_RE.match(raw.decode("utf-8"))
        assert m, raw
        out.append((m.group(1), m.group(2)))
    return out


def read_lyrics(path: Path) -> tuple[list[str], int, list[tuple[str, int, dict]], Counter, dict]:
    """Vocabulary, comment lines, valid ``(track, mxm, {idx: cnt})`` rows, malformed reasons
    and their line numbers."""
    vocab: list[str] = []
    comments, rows, bad, where = 0, [], Counter(), defaultdict(list)
    for no, raw in enumerate(_raw_lines(path), 1):
        text = raw.decode("utf-8")
        if text.startswith("#"):
            comments += 1
            continue
        if text.startswith("%"):
            vocab = text[1:].split(",")
            continue
        parts = text.split(",")
        pairs = [p.split(":") for p in parts[2:]]
        reason = None
        if len(parts) < 3:
            reason = "wrong_field_count"
        elif not parts[1].isdigit() or any(
            len(p) != 2 or not p[0].isdigit() or not p[1].isdigit() or int(p[1]) < 1 for p in pairs
        ):
            reason = "bad_word_count"
        elif any(not 1 <= int(p[0]) <= len(vocab) for p in pairs):
            reason = "word_index_out_of_range"
        if reason:
            bad[reason] += 1
            where[reason].append(no)
        else:
            rows.append((parts[0], int(parts[1]), {int(i): int(c) for i, c in pairs}))
    return vocab, comments, rows, bad, dict(where)


def _suffix(planted: dict) -> str:
    return ".gz" if planted["gzip"] else ""


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny")
    return out, sd.generate(out, size="tiny", seed=42)


def _read_all(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


# ----------------------------------------------------------------------------- tests


def test_size_presets():
    assert set(sd.SIZES) == {"tiny", "small", "large"}
    for name, p in sd.SIZES.items():
        assert p.name == name
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.n_users = 1  # type: ignore[misc]
    assert sd.SIZES["tiny"].n_songs < sd.SIZES["small"].n_songs < sd.SIZES["large"].n_songs
    with pytest.raises(KeyError):
        sd.generate("/nonexistent", size="huge")


def test_deterministic(tiny, tmp_path):
    out, planted = tiny
    again = sd.generate(tmp_path / "again", size="tiny", seed=42)
    assert again == planted
    assert _read_all(tmp_path / "again") == _read_all(out)
    sd.generate(tmp_path / "other", size="tiny", seed=43)
    for name in DATA_FILES:
        assert (tmp_path / "other" / name).read_bytes() != (out / name).read_bytes()


def test_formats(tiny):
    out, planted = tiny
    rows, _, _ = read_triplets(out / sd.TRIPLETS_FILE)
    assert all(USER_RE.match(u) and SONG_RE.match(s) and p >= 1 for u, s, p in rows)
    # grouped by user: each user's lines form one block
    blocks = [u for i, (u, _, _) in enumerate(rows) if i == 0 or rows[i - 1][0] != u]
    assert len(blocks) == len(set(blocks)) == planted["n_users"]

    tracks, _, _ = read_tracks(out / sd.TRACKS_FILE)
    assert all(TRACK_RE.match(t) and SONG_RE.match(s) and a and ti for t, s, a, ti in tracks)
    text = (out / sd.TRACKS_FILE).read_text(encoding="utf-8")
    assert any(ord(c) > 127 for c in text), "some non-ASCII names"
    assert any(ord(c) > 0x3000 for c in text), "some CJK names"
    names = "".join(a + t for _, _, a, t in tracks)
    assert "<" in names or ">" in names

    mm = read_mismatches(out / sd.MISMATCHES_FILE)
    raw_mm = (out / sd.MISMATCHES_FILE).read_text(encoding="utf-8").splitlines()
    assert all(line.count("  !=  ") == 1 and line.count("  -  ") == 2 for line in raw_mm)
    assert len(mm) == planted["mismatch_lines"]

    vocab, comments, lyrics, _, _ = read_lyrics(out / sd.LYRICS_FILE)
    assert comments >= 5 and len(vocab) == len(set(vocab)) == planted["vocab_size"]
    assert all(re.fullmatch(r"[a-z]+", w) for w in vocab)
    assert all(TRACK_RE.match(t) and m > 0 for t, m, _ in lyrics)
    assert all(list(b) == sorted(b) and min(b.values()) >= 1 for _, _, b in lyrics)
    ids = [t for t, _, _ in lyrics]
    assert ids == sorted(ids)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="real samples not present")
def test_real_samples_parse_with_the_same_readers():
    rows, bad, _ = read_triplets(SHARED_DATA / "taste_profile_triplets.sample.txt")
    assert not bad and len(rows) == 10_000
    assert len({u for u, _, _ in rows}) == 365 and sum(p for _, _, p in rows) == 29_911
    assert all(USER_RE.match(u) and SONG_RE.match(s) for u, s, _ in rows)
    played = {s for _, s, _ in rows}

    tracks, bad, _ = read_tracks(SHARED_DATA / "subset_unique_tracks.txt")
    assert not bad and len({s for _, s, _, _ in tracks}) == 10_000
    assert all(TRACK_RE.match(t) and SONG_RE.match(s) for t, s, _, _ in tracks)
    assert len({s for _, s, _, _ in tracks} & played) == 99
    tracks, bad, _ = read_tracks(SHARED_DATA / "unique_tracks.sample.txt")
    assert not bad and len({s for _, s, _, _ in tracks} & played) == 27

    mm = read_mismatches(SHARED_DATA / "sid_mismatches.txt")
    assert len(mm) == 19_094 and len({s for s, _ in mm}) == 18_913
    assert len({s for s, _ in mm} & played) == 344

    vocab, comments, lyrics, bad, _ = read_lyrics(SHARED_DATA / "mxm_dataset_test.sample.txt")
    assert not bad and comments == 17 and len(vocab) == 5_000 and len(lyrics) == 8_259


def _recount(out: Path, planted: dict) -> dict:
    """Every planted count, recomputed from the written files in plain Python."""
    sfx = _suffix(planted)
    n_lines = {name: len(_raw_lines(out / (name + sfx))) for name in DATA_FILES}
    trip, trip_bad, trip_where = read_triplets(out / (sd.TRIPLETS_FILE + sfx))
    tracks, tracks_bad, tracks_where = read_tracks(out / (sd.TRACKS_FILE + sfx))
    mm = read_mismatches(out / (sd.MISMATCHES_FILE + sfx))
    vocab, _, lyrics, lyrics_bad, lyrics_where = read_lyrics(out / (sd.LYRICS_FILE + sfx))

    mm_songs = {s for s, _ in mm}
    kept = [(u, s, p) for u, s, p in trip if s not in mm_songs]
    pairs: Counter = Counter()
    for u, s, p in kept:
        pairs[(u, s)] += p
    user_plays: Counter = Counter()
    for (u, _), p in pairs.items():
        user_plays[u] += p
    catalogue = {s for _, s, _, _ in tracks}
    song_of_track = {t: s for t, s, _, _ in tracks}
    played = {s for _, s, _ in trip}
    with_lyrics = {song_of_track[t] for t, _, _ in lyrics if t in song_of_track}
    return {
        "files": {name + sfx: n for name, n in n_lines.items()},
        "triplet_lines": n_lines[sd.TRIPLETS_FILE],
        "triplet_malformed": dict(trip_bad),
        "triplet_malformed_line_numbers": trip_where,
        "triplet_valid_lines": len(trip),
        "duplicate_triplet_lines": len(trip) - len({(u, s) for u, s, _ in trip}),
        "duplicate_triplet_lines_kept": len(kept) - len(pairs),
        "mismatch_lines": len(mm),
        "mismatched_song_ids": len(mm_songs),
        "mismatched_track_ids": len({t for _, t in mm}),
        "mismatched_catalogue_songs": len(mm_songs & catalogue),
        "mismatched_songs_played": len(mm_songs & played),
        "triplet_valid_lines_with_mismatched_song": len(trip) - len(kept),
        "expected_interactions": len(pairs),
        "expected_users": len(user_plays),
        "expected_played_songs": len({s for _, s in pairs}),
        "total_plays_expected": sum(pairs.values()),
        "single_play_users": sum(1 for p in user_plays.values() if p == 1),
        "catalogue_songs": len(catalogue),
        "catalogue_tracks": len({t for t, _, _, _ in tracks}),
        "catalogue_songs_kept": len(catalogue - mm_songs),
        "catalogue_tracks_kept": sum(1 for _, s, _, _ in tracks if s not in mm_songs),
        "played_songs_not_in_catalogue": len(played - catalogue),
        "tracks_malformed": dict(tracks_bad),
        "tracks_malformed_line_numbers": tracks_where,
        "lyrics_tracks": len(lyrics),
        "lyrics_malformed": dict(lyrics_bad),
        "lyrics_malformed_line_numbers": lyrics_where,
        "lyrics_lines_with_mismatched_song": sum(
            1 for t, _, _ in lyrics if song_of_track.get(t) in mm_songs
        ),
        "lyrics_lines_with_mismatched_track": sum(
            1 for t, _, _ in lyrics if t in {t for _, t in mm}
        ),
        "songs_with_lyrics": len(with_lyrics - mm_songs),
        "songs_without_lyrics": len(catalogue - with_lyrics - mm_songs),
        "cold_songs": len(catalogue - played - mm_songs),
        "cold_songs_incl_mismatched": len(catalogue - played),
        "vocab_size": len(vocab),
    }


@pytest.mark.parametrize("preset", ["tiny", CHUNKY])
def test_planted_counts_match_the_files(tiny, tmp_path, monkeypatch, preset):
    if preset == "tiny":
        out, planted = tiny
    else:
        monkeypatch.setattr("sampledata.lyrics.LYRIC_CHUNK", 23)  # lyric chunk seams too
        out, planted = tmp_path, sd.generate(tmp_path, size=preset, seed=7)
    assert json.loads((out / "_planted" / "planted.json").read_text()) == planted
    recount = _recount(out, planted)
    for key, value in recount.items():
        assert planted[key] == value, key
    # every defect kind is planted
    assert set(planted["triplet_malformed"]) == set(sd.TRIPLET_REASONS)
    assert set(planted["tracks_malformed"]) == {"wrong_field_count", "empty_id"}
    assert set(planted["lyrics_malformed"]) == {
        "bad_word_count",
        "word_index_out_of_range",
        "wrong_field_count",
    }
    for key in (
        "duplicate_triplet_lines",
        "single_play_users",
        "cold_songs",
        "songs_without_lyrics",
    ):
        assert planted[key] > 0, key
    assert 0 < planted["mismatched_songs_played"] < planted["mismatched_catalogue_songs"]
    assert planted["duplicate_triplet_lines"] == planted["duplicate_triplet_lines_kept"]
    assert planted["mismatched_song_ids"] > planted["mismatched_catalogue_songs"]  # orphans
    # malformed lines are scattered, not bunched at the end
    first_bad = min(min(v) for v in planted["triplet_malformed_line_numbers"].values())
    assert first_bad < planted["triplet_lines"] / 2
    assert 5_000 <= planted["triplet_lines"] <= 10_000 or preset is CHUNKY


def test_planted_structure(tiny):
    out, planted = tiny
    with open(out / "_planted" / "songs.csv", encoding="utf-8", newline="") as f:
        songs = {r["song_id"]: r for r in csv.DictReader(f)}
    with open(out / "_planted" / "users.csv", encoding="utf-8", newline="") as f:
        users = {r["user_id"]: set(r["genres"].split("|")) for r in csv.DictReader(f)}
    assert len(songs) == planted["catalogue_songs"] and len(users) == planted["n_users"]
    assert all(1 <= len(g) <= 3 and g <= set(planted["genres"]) for g in users.values())
    rows, _, _ = read_triplets(out / sd.TRIPLETS_FILE)

    # users' songs concentrate in their preferred genres
    in_pref = sum(songs[s]["genre"] in users[u] for u, s, _ in rows)
    assert in_pref / len(rows) > 0.8
    assert abs(in_pref / len(rows) - planted["preferred_genre_line_share"]) < 1e-3

    # inside a preferred genre, users play mostly their favourite lyric topic of that genre
    with open(out / "_planted" / "users.csv", encoding="utf-8", newline="") as f:
        favourite = {
            r["user_id"]: dict(
                zip(r["genres"].split("|"), r["favourite_topics"].split("|"), strict=True)
            )
            for r in csv.DictReader(f)
        }
    per_topic = planted["n_topics_per_genre"]
    fav_lines = other_lines = 0
    for u, s, _ in rows:
        genre, topic = songs[s]["genre"], songs[s]["topic"]
        if genre in favourite[u]:
            assert int(favourite[u][genre]) // per_topic == planted["genres"].index(genre)
            if topic == favourite[u][genre]:
                fav_lines += 1
            else:
                other_lines += 1
    # without topic taste the favourite would hold about 1/per_topic of these lines
    assert fav_lines / (fav_lines + other_lines) > 1.5 / per_topic
    assert planted["favourite_topic_draw_share"] == sd.TOPIC_SHARE

    # popularity is skewed: the top 10% of songs get a large share of plays
    plays: Counter = Counter()
    for _, s, p in rows:
        plays[s] += p
    ranked = sorted(plays.values(), reverse=True)
    top = ranked[: max(1, len(songs) // 10)]
    assert sum(top) / sum(ranked) > 0.35

    # songs.csv flags agree with the files
    assert all((songs[s]["cold"] == "True") == (s not in plays) for s in songs)
    assert sum(r["cold"] == "True" for r in songs.values()) == planted["cold_songs_incl_mismatched"]
    has_lyrics = sum(
        r["has_lyrics"] == "True" and r["mismatched"] == "False" for r in songs.values()
    )
    assert has_lyrics == planted["songs_with_lyrics"]
    share = planted["songs_without_lyrics"] / planted["catalogue_songs_kept"]
    assert 0.15 < share < 0.35

    # lyric words of a genre's songs lean to that genre's vocabulary
    vocab, _, lyrics, _, _ = read_lyrics(out / sd.LYRICS_FILE)
    tracks, _, _ = read_tracks(out / sd.TRACKS_FILE)
    genre_of_track = {t: songs[s]["genre"] for t, s, _, _ in tracks}
    words_by_genre: dict[str, Counter] = defaultdict(Counter)
    for t, _, bag in lyrics:
        words_by_genre[genre_of_track[t]].update(bag)
    common = int(0.15 * len(vocab))
    tops = {g: {w for w, _ in c.most_common(200) if w > common} for g, c in words_by_genre.items()}
    a, b = list(tops)[:2]
    assert len(tops[a] & tops[b]) < 0.2 * min(len(tops[a]), len(tops[b]))


def test_gzip_variant(tiny, tmp_path):
    out, planted = tiny
    gz = sd.generate(tmp_path, size="tiny", seed=42, gzip=True)
    for name in DATA_FILES:
        assert not (tmp_path / name).exists()
        with gzip.open(tmp_path / (name + ".gz"), "rb") as f:
            assert f.read() == (out / name).read_bytes(), name
    assert gz["files"] == {k + ".gz": v for k, v in planted["files"].items()}
    same = {k: v for k, v in gz.items() if k not in ("gzip", "files")}
    assert same == {k: v for k, v in planted.items() if k not in ("gzip", "files")}
    assert _recount(tmp_path, gz)["expected_interactions"] == planted["expected_interactions"]


def test_cli_sample_data(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert cli.main(["sample-data", "--size", "tiny", "--out", str(out), "--seed", "3"]) == 0
    planted = json.loads((out / "_planted" / "planted.json").read_text())
    assert planted["seed"] == 3
    assert capsys.readouterr().out == (
        f"wrote tiny sample data to {out} ({planted['triplet_lines']} triplet lines, seed 3)\n"
    )


def test_cli_sample_data_scaled(tmp_path, capsys):
    out = tmp_path / "scaled"
    args = ["sample-data", "--size", "tiny", "--triplets", "12000", "--out", str(out), "--gzip"]
    assert cli.main(args) == 0
    planted = json.loads((out / "_planted" / "planted.json").read_text())
    assert planted["preset"] == dataclasses.asdict(sd.preset_for_triplets(12_000, "tiny"))
    assert planted["gzip"] and (out / (sd.TRIPLETS_FILE + ".gz")).is_file()
    assert "wrote tiny-12000 sample data" in capsys.readouterr().out


def test_cli_sample_data_refuses_a_size_it_cannot_scale(tmp_path, capsys):
    args = ["sample-data", "--size", "large", "--triplets", "5000", "--out", str(tmp_path)]
    assert cli.main(args) == 2
    assert "cannot be scaled" in capsys.readouterr().err
    assert not (tmp_path / "_planted").exists()
