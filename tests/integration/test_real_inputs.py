"""The whole pipeline on the real samples in ../shared/data, in each combination of inputs a
user may have: triplets alone; with a track list covering all, part or none of the played
songs; with lyrics that match all, some or none of them (or tracks missing from the track
list); with the mismatch list; gzipped files among them.

Every run must publish, name what its inputs did not allow (in the quality report and the
manifest, in sentences), end without a traceback and recommend no played song. Each
combination is one pipeline run in the shared session, on one slice of real triplet lines.

The real files join badly (the musiXmatch sample matches no track of the track lists, and the
track lists cover few played songs), so the combinations "track list covering every played
song" and "lyrics for all / some played songs" are built from real lines with rewritten ids:
real track lines (real track ids, artists and titles) given the played songs' ids, real
lyric lines given those tracks' ids. The rewriting is in ``covering_tracks`` and
``rewritten_lyrics``.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.steps.degradations import CONTENT_SUMMARY, HYBRID_SUMMARY, KEY
from recsys.storage.warehouse import Warehouse
from tests.support import REPO, make_config

pytestmark = pytest.mark.integration

SLICE_LINES = 3_000  # the first 91 users of the real triplets sample (sorted by user)
RUN = "real"
# Small and quick: the run's shape matters here, not its quality. The hybrid is not required
# to beat popularity: on the ~15 held-out users of this slice that comparison is noise. The
# blend is fitted (the default) for the triplets alone, run by the command; the others take the
# configured one (FIXED), which saves the fit-blend step's refit and grid.
OVERRIDES = (
    "als.rank=8",
    "als.max_iter=3",
    "als.top_n=30",
    "content.lda_k=4",
    "content.lda_max_iter=3",
    "content.w2v_vector_size=8",
    "content.projection_dim=16",
    "content.dim=8",
    "neighbours.method=exact",
    "neighbours.k=10",
    "hybrid.top_n=10",
    "hybrid.extra_candidates=10",
    "hybrid.fit.alphas=[0.5, 1.0]",
    "hybrid.fit.popularity_exponents=[0.0, 2.0]",
    "hybrid.fit.curve=false",
    "evaluation.ks=[10]",
    "evaluation.alpha_sweep=[]",
    "evaluation.map_tau=0",
    "publish.require_beat_popularity=false",
)
FIXED = "hybrid.fit.mode=fixed"


# ----------------------------------------------------------------------------- real lines


@dataclass(frozen=True)
class RealLines:
    """Lines of the real samples: the triplet slice, a track list, musiXmatch."""

    triplets: list[str]
    tracks: list[str]  # subset_unique_tracks.txt: 10,000 tracks, 43 of the slice's songs
    other_tracks: list[str]  # unique_tracks.sample.txt
    mismatches: list[str]
    mxm_header: list[str]  # the comment lines and the '%' word list
    mxm_data: list[str]  # 8,259 tracks, none of them in a track list

    @property
    def played(self) -> list[str]:
        """The slice's song ids, sorted."""
        return sorted({line.split("\t")[1] for line in self.triplets})

    @property
    def mismatched(self) -> set[str]:
        """The song ids of the mismatch list (``ERROR: <SONGID TRACKID> ...``)."""
        return {line.split("<", 1)[1].split()[0] for line in self.mismatches}


def _lines(path: Path) -> list[str]:
    """The file's lines, each with its newline (split on newlines only: titles hold U+2028)."""
    text = path.read_text(encoding="utf-8")
    return [line + "\n" for line in text.removesuffix("\n").split("\n")]


@pytest.fixture(scope="module")
def real(shared_data) -> RealLines:
    mxm = _lines(shared_data / "mxm_dataset_test.sample.txt")
    header = [line for line in mxm if line.startswith(("#", "%"))]
    return RealLines(
        triplets=_lines(shared_data / "taste_profile_triplets.sample.txt")[:SLICE_LINES],
        tracks=_lines(shared_data / "subset_unique_tracks.txt"),
        other_tracks=_lines(shared_data / "unique_tracks.sample.txt"),
        mismatches=_lines(shared_data / "sid_mismatches.txt"),
        mxm_header=header,
        mxm_data=mxm[len(header) :],
    )


def write(folder: Path, name: str, lines: list[str], gz: bool = False) -> None:
    data = "".join(lines).encode("utf-8")
    if gz:
        (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
    else:
        (folder / name).write_bytes(data)


def covering_tracks(real: RealLines) -> tuple[list[str], list[str]]:
    """A track list covering every played song, and the track id given to each played song.

    Real track lines (of songs nobody in the slice played) in order, each given the next
    played song's id; the real track ids, artists and titles stay.
    """
    played = set(real.played)
    donors = [line for line in real.tracks if line.split("<SEP>")[1] not in played]
    lines, track_ids = [], []
    for song, line in zip(real.played, donors, strict=False):
        track, _, artist_title = line.split("<SEP>", 2)
        lines.append(f"{track}<SEP>{song}<SEP>{artist_title}")
        track_ids.append(track)
    assert len(lines) == len(real.played)
    return lines, track_ids


def rewritten_lyrics(real: RealLines, track_ids: list[str]) -> list[str]:
    """Real lyric lines, the first ``len(track_ids)`` given those track ids (the rest as they
    are: tracks in no track list)."""
    out = []
    for i, line in enumerate(real.mxm_data):
        if i < len(track_ids):
            line = track_ids[i] + line[line.index(",") :]
        out.append(line)
    return out


# ----------------------------------------------------------------------------- running


@dataclass
class Run:
    cfg: object
    wh: Warehouse
    manifest: dict
    quality: dict
    output: str

    def degradations(self) -> list[str]:
        return self.manifest[KEY]

    def doc(self, name: str) -> dict:
        return self.wh.read_json(RUN, name)


def run_pipeline(spark, raw: Path, root: Path, capfd, *extra: str) -> Run:
    """Every step in the shared session; ``extra`` overrides after :data:`OVERRIDES`."""
    from recsys.steps import run_steps

    cfg = make_config(root, f"input.dir={raw}", "ingest.max_bad_fraction=0.01", *OVERRIDES, *extra)
    run_steps(spark, cfg, RUN, log=print)
    output = "".join(capfd.readouterr())
    wh = Warehouse.from_config(cfg)
    return Run(cfg, wh, wh.read_json(RUN, S.MANIFEST), wh.read_json(RUN, S.QUALITY_REPORT), output)


def run_command(raw: Path, root: Path) -> Run:
    """``recsys run`` as a new user types it (its own Spark session): exit 0 and no traceback."""
    sets = [
        f"input.dir={raw}",
        f"warehouse.dir={root / 'warehouse'}",
        "spark.shuffle_partitions=2",
        "spark.extra={'spark.ui.enabled': 'false'}",
        *OVERRIDES,
    ]
    cmd = [sys.executable, "-m", "recsys.cli", "run", "--conf", str(REPO / "conf" / "local.yaml")]
    cmd += ["--run-id", RUN, *[arg for s in sets for arg in ("--set", s)]]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"latest published run: {RUN}" in done.stdout
    cfg = make_config(root, f"input.dir={raw}")
    wh = Warehouse.from_config(cfg)
    output = done.stdout + done.stderr
    return Run(cfg, wh, wh.read_json(RUN, S.MANIFEST), wh.read_json(RUN, S.QUALITY_REPORT), output)


def check_published_without_played_songs(spark, run: Run) -> None:
    """The run published, printed no traceback and no list holds a song its user played."""
    assert run.manifest["published"], run.manifest["gates"]
    assert run.wh.latest_run_id() == RUN
    assert "Traceback" not in run.output
    assert all(g["passed"] for g in run.manifest["gates"]), run.manifest["gates"]
    plays = run.wh.read_table(spark, RUN, S.INTERACTIONS).select(S.USER, S.SONG)
    for table in (S.USER_RECOMMENDATIONS, S.USER_CANDIDATES, S.CF_USER_TOPN):
        rows = run.wh.read_table(spark, RUN, table)
        assert rows.join(plays, [S.USER, S.SONG]).count() == 0, table
    assert run.wh.read_table(spark, RUN, S.USER_RECOMMENDATIONS).count() > 0
    # the quality report names the inputs' degradations, the manifest every step's
    for sentence in run.quality[KEY]:
        assert sentence in run.degradations()


def named(run: Run, *fragments: str) -> None:
    """Each fragment is part of some sentence of the manifest's degradations."""
    for fragment in fragments:
        assert any(fragment in s for s in run.degradations()), (fragment, run.degradations())


def not_named(run: Run, *prefixes: str) -> None:
    """No degradation starts with any of ``prefixes``."""
    bad = [s for s in run.degradations() if s.startswith(prefixes)]
    assert not bad, bad


# ----------------------------------------------------------------------------- combinations


def test_triplets_alone_gzipped(spark, real, tmp_path):
    """``recsys run`` with only train_triplets.txt.gz: no content at all, and the hybrid is
    the collaborative lists."""
    raw = tmp_path / "raw"
    raw.mkdir()
    write(raw, "train_triplets.txt", real.triplets, gz=True)
    run = run_command(raw, tmp_path)
    check_published_without_played_songs(spark, run)
    named(
        run,
        "tracks: no track list",
        "mismatches: no mismatch list",
        "lyrics: no musiXmatch file",
        "content: no song has lyrics or metadata",
        "neighbours: content_vectors is empty",
        "hybrid: there are no content vectors, so every list is the collaborative (ALS",
        "evaluate: content has no list for any held-out user",
    )
    assert run.wh.read_table(spark, RUN, S.CONTENT_VECTORS).count() == 0
    assert run.wh.read_table(spark, RUN, S.CONTENT_NEIGHBOURS).count() == 0
    assert run.doc(CONTENT_SUMMARY)["empty_reason"]
    # the hybrid's lists are the collaborative ones, with their reasons: without an
    # item-based share every song is from ALS's list (popularity may reorder it)
    recs = run.wh.read_table(spark, RUN, S.USER_RECOMMENDATIONS)
    cf = run.wh.read_table(spark, RUN, S.CF_USER_TOPN)
    pairs = [S.USER, S.SONG]
    assert recs.count() == 10 * run.quality["tables"][S.USERS]
    chosen = run.doc(S.BLEND)["chosen"]
    if chosen["item_weight"] == 0:
        assert recs.select(*pairs).subtract(cf.select(*pairs)).count() == 0
    assert recs.where(f"{S.REASON} is null").count() == 0
    assert recs.where(F.col(S.CONTENT_SCORE) > 0).count() == 0
    models = run.doc(S.EVALUATION_JSON)["models"]
    assert models["content"]["ndcg@10"] == 0.0
    if chosen["item_weight"] == chosen["popularity_weight"] == 0:
        assert models["hybrid"]["ndcg@10"] == models["als"]["ndcg@10"]


def test_real_files_as_they_are(spark, real, tmp_path, capfd):
    """The real track list (part of the played songs), the real musiXmatch sample (tracks in
    no track list: the lyrics match nothing) and the mismatch list: metadata vectors only."""
    raw = tmp_path / "raw"
    raw.mkdir()
    write(raw, "train_triplets.txt", real.triplets)
    write(raw, "unique_tracks.txt", real.tracks)
    write(raw, "sid_mismatches.txt", real.mismatches)
    write(raw, "mxm_dataset_test.txt", real.mxm_header + real.mxm_data)
    run = run_pipeline(spark, raw, tmp_path, capfd, FIXED)
    check_published_without_played_songs(spark, run)
    played = run.quality["played_songs"]
    assert 0 < played["with_metadata"] < played["songs"]
    named(
        run,
        f"tracks: {played['with_metadata']:,} of the {played['songs']:,} played songs are in "
        "the track list",
        f"lyrics: {len(real.mxm_data):,} lyric lines unused: none of their tracks is in the "
        "track list",
        f"content: no song has lyrics; metadata vectors for {played['with_metadata']:,} of the "
        f"{played['songs']:,} played songs",
    )
    not_named(run, "mismatches:", "hybrid:", "neighbours:", "evaluate: hybrid")
    sources = run.doc(CONTENT_SUMMARY)["sources"]
    assert sources[S.SOURCE_METADATA] > 0
    assert sources[S.SOURCE_LYRICS] == sources[S.SOURCE_LYRICS_METADATA] == 0
    assert run.doc(HYBRID_SUMMARY)["candidates_with_content"] > 0


@pytest.mark.parametrize("cold_songs", ["all", "lyrics"])
def test_track_list_covering_no_played_song(spark, real, tmp_path, capfd, cold_songs):
    """A track list of unplayed songs only (and the mismatch list, gzipped), no lyrics. With
    every catalogue song in content (the default), vectors exist, but for no played song; with
    only the unplayed songs with lyrics there are none, and the run says which setting left
    the track list out. Either way the hybrid is the collaborative lists."""
    raw = tmp_path / "raw"
    raw.mkdir()
    played = set(real.played)
    unplayed = [line for line in real.other_tracks if line.split("<SEP>")[1] not in played]
    write(raw, "train_triplets.txt", real.triplets)
    write(raw, "unique_tracks.txt", unplayed)
    write(raw, "sid_mismatches.txt", real.mismatches, gz=True)
    run = run_pipeline(spark, raw, tmp_path, capfd, FIXED, f"content.cold_songs={cold_songs}")
    check_published_without_played_songs(spark, run)
    named(run, "tracks: none of the", "lyrics: no musiXmatch file")
    summary = run.doc(CONTENT_SUMMARY)
    vectors = run.wh.read_table(spark, RUN, S.CONTENT_VECTORS).count()
    if cold_songs == "all":
        named(
            run,
            "content: no played song has lyrics or metadata",
            "hybrid: no song a user played has a content neighbour or vector",
        )
        assert vectors > 0 and summary["songs_left_out"] == 0
    else:
        songs = run.wh.read_table(spark, RUN, S.SONGS)
        n_played = songs.where(F.col("n_listeners") > 0).count()
        assert summary["songs_left_out"] == summary["catalogue_songs"] - n_played > 0
        named(
            run,
            "content: no song has lyrics or metadata (artist, title) (content.cold_songs=lyrics "
            f"left out {summary['songs_left_out']:,} unplayed catalogue songs",
        )
        assert vectors == 0


def test_lyrics_for_every_played_song(spark, real, tmp_path, capfd):
    """Built from real lines with rewritten ids: a track list covering every played song and a
    real lyric line for each of their tracks (gzipped), plus the mismatch list: nothing is
    missing, so nothing is named."""
    raw = tmp_path / "raw"
    raw.mkdir()
    tracks, track_ids = covering_tracks(real)
    # the mismatch list filters the plays and tracks of its songs: lyrics for the others
    kept = [
        t for t, song in zip(track_ids, real.played, strict=True) if song not in real.mismatched
    ]
    assert 0 < len(kept) < len(track_ids)
    write(raw, "train_triplets.txt", real.triplets)
    write(raw, "unique_tracks.txt", tracks)
    write(raw, "sid_mismatches.txt", real.mismatches)
    lyrics = rewritten_lyrics(real, kept)[: len(kept)]
    write(raw, "mxm_dataset_test.txt", real.mxm_header + lyrics, gz=True)
    run = run_pipeline(spark, raw, tmp_path, capfd, FIXED)
    check_published_without_played_songs(spark, run)
    assert run.degradations() == []
    played = run.quality["played_songs"]
    assert played["with_lyrics"] == played["with_metadata"] == played["songs"]
    assert run.doc(HYBRID_SUMMARY)["candidates_with_content"] > 0


def test_lyrics_for_some_played_songs(spark, real, tmp_path, capfd):
    """Built from real lines with rewritten ids: a track list (gzipped) covering every played
    song, lyrics for a third of them and the other real lyric lines as they are (tracks
    missing from the track list)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    tracks, track_ids = covering_tracks(real)
    some = track_ids[::3]
    write(raw, "train_triplets.txt", real.triplets)
    write(raw, "unique_tracks.txt", tracks, gz=True)
    write(raw, "mxm_dataset_test.txt", real.mxm_header + rewritten_lyrics(real, some))
    run = run_pipeline(spark, raw, tmp_path, capfd, FIXED)
    check_published_without_played_songs(spark, run)
    unused = len(real.mxm_data) - len(some)
    named(
        run,
        "mismatches: no mismatch list",
        f"lyrics: {unused:,} of the {len(real.mxm_data):,} lyric lines are for tracks not in "
        "the track list (less the mismatch list's) and are unused",
    )
    not_named(run, "tracks:", "hybrid:", "neighbours:", "evaluate:")
    played = run.quality["played_songs"]
    assert 0 < played["with_lyrics"] < played["songs"] == played["with_metadata"]
    sources = run.doc(CONTENT_SUMMARY)["played_sources"]
    assert sources[S.SOURCE_LYRICS_METADATA] + sources[S.SOURCE_LYRICS] == played["with_lyrics"]
    # the songs without lyrics whose artist and title share no word with another song's (the
    # IDF of a word in one song is 0) are the only content degradation
    without = sources[S.SOURCE_NONE]
    content = [s for s in run.degradations() if s.startswith("content:")]
    assert content == (
        [
            f"content: {without:,} of the {played['songs']:,} played songs have no content vector "
            "(no lyrics, and no artist or title word shared with another song)"
        ]
        if without
        else []
    )
