"""The sentences that name what a run's inputs did not allow, from hand-made step facts."""

from __future__ import annotations

from recsys import names as S
from recsys.steps import degradations
from recsys.steps.content import content_degradations
from recsys.steps.hybrid import hybrid_degradations
from recsys.steps.ingest import input_degradations
from streamlit_app import loaders

PATTERNS = {
    "triplets": "train_triplets.txt",
    "tracks": "unique_tracks.txt",
    "mismatches": "sid_mismatches.txt",
    "lyrics": "mxm_dataset_*.txt",
}


def report(missing=(), played=(100, 100, 80), lyric_lines=90, unmatched=0, with_lyrics=85):
    songs, with_metadata, played_lyrics = played
    return {
        "missing_inputs": list(missing),
        "played_songs": {
            "songs": songs,
            "with_metadata": with_metadata,
            "with_lyrics": played_lyrics,
        },
        "inputs": {"lyrics": {"clean_lines": lyric_lines}},
        "lyrics_tracks_without_song": unmatched,
        "songs_with_lyrics": with_lyrics,
        "files": {"tracks": ["/raw/unique_tracks.txt"]},
        "empty_files": [],
    }


def test_inputs_that_join_name_nothing():
    assert input_degradations(report(), PATTERNS) == []


def test_triplets_alone():
    got = input_degradations(
        report(["tracks", "mismatches", "lyrics"], (100, 0, 0), 0, 0, 0), PATTERNS
    )
    assert got == [
        "tracks: no track list (unique_tracks.txt, or .gz) in the input folder, so songs have "
        "no artist or title",
        "mismatches: no mismatch list (sid_mismatches.txt, or .gz) in the input folder, so "
        "plays of songs matched to the wrong track are kept",
        "lyrics: no musiXmatch file (mxm_dataset_*.txt, or .gz) in the input folder, so no "
        "song has lyrics",
    ]


def test_a_track_list_covering_part_or_none_of_the_played_songs():
    part = input_degradations(report(played=(2_054, 38, 0), with_lyrics=0), PATTERNS)
    assert part[0] == (
        "tracks: 38 of the 2,054 played songs are in the track list; the other 2,016 have no "
        "artist or title"
    )
    none = input_degradations(report(played=(5, 0, 0), with_lyrics=0), PATTERNS)
    assert none[0] == (
        "tracks: none of the 5 played songs is in the track list, so they have no artist or title"
    )


def test_lyrics_that_match_no_track_or_no_played_song():
    unused = input_degradations(report(lyric_lines=8_259, unmatched=8_259, with_lyrics=0), PATTERNS)
    assert unused == [
        "lyrics: 8,259 lyric lines unused: none of their tracks is in the track list (less the "
        "mismatch list's)"
    ]
    no_tracks = input_degradations(
        report(["tracks"], (10, 0, 0), lyric_lines=3, unmatched=3, with_lyrics=0), PATTERNS
    )
    assert "lyrics: 3 lyric lines unused: there is no track list to match them to songs" in (
        no_tracks
    )
    some = input_degradations(report(unmatched=3), PATTERNS)
    assert some == [
        "lyrics: 3 of the 90 lyric lines are for tracks not in the track list (less the "
        "mismatch list's) and are unused"
    ]
    unplayed = input_degradations(report(played=(100, 100, 0), with_lyrics=1), PATTERNS)
    assert unplayed == [
        "lyrics: no played song has lyrics; those with lyrics (1) were never played"
    ]


def test_an_empty_optional_file_is_named():
    doc = report()
    doc["empty_files"] = ["/raw/unique_tracks.txt"]
    assert input_degradations(doc, PATTERNS) == [
        "tracks: /raw/unique_tracks.txt is empty (0 bytes)"
    ]


def played(**counts):
    return {source: counts.get(source, 0) for source in (*S.CONTENT_SOURCES, "missing")}


SUMMARY = {"songs_with_lyrics": 10, "parts": "tfidf,metadata,w2v,lda"}


def test_content_with_lyrics_and_metadata_for_every_played_song_names_nothing():
    summary = {**SUMMARY, "parts_present": "tfidf,metadata,w2v,lda"}
    assert content_degradations(summary, played(**{S.SOURCE_LYRICS_METADATA: 5})) == []


def test_content_sentences():
    empty = {**SUMMARY, "parts_present": "", "empty_reason": "no song has lyrics or metadata"}
    assert content_degradations(empty, played(none=3))[0].startswith(
        "content: no song has lyrics or metadata, so content_vectors is empty"
    )
    metadata = {**SUMMARY, "songs_with_lyrics": 0, "parts_present": "metadata"}
    got = content_degradations(metadata, played(metadata=38, none=2_016))
    assert got == [
        "content: no song has lyrics; metadata vectors for 38 of the 2,054 played songs",
        "content: 2,016 of the 2,054 played songs have no content vector (no lyrics, and no "
        "artist or title word shared with another song)",
    ]
    unplayed = {**metadata, "sources": {S.SOURCE_METADATA: 7, S.SOURCE_NONE: 9}}
    assert content_degradations(unplayed, played(none=4))[0].startswith(
        "content: no played song has lyrics or metadata; content vectors exist for unplayed "
        "songs only (7)"
    )
    gappy = {**SUMMARY, "parts_present": "metadata,lda", "w2v_skipped": "no word"}
    assert content_degradations(gappy, played(lyrics=1)) == [
        "content: no word",
        "content: no song has a tfidf part (no lyric word weighs anything at "
        "content.min_doc_freq); it is left out",
    ]


def test_hybrid_without_content_is_the_collaborative_lists():
    assert hybrid_degradations({"candidates_with_content": 3}, True) == []
    (sentence,) = hybrid_degradations({"candidates_with_content": 0}, False)
    assert sentence.startswith("hybrid: there are no content vectors, so every list is the")


def test_a_model_without_lists_is_named_absent():
    models = {
        "content": {"coverage@10": 0.0, "ndcg@10": 0.0},
        "als": {"coverage@10": 0.3, "ndcg@10": 0.1},
    }
    assert degradations.evaluation_degradations(models) == [
        "evaluate: content has no list for any held-out user, so it scores 0 on every metric "
        "(absent, not measured)"
    ]


def test_publish_gathers_in_pipeline_order_once_each():
    docs = {
        S.EVALUATION_JSON: {"degradations": ["evaluate: e"]},
        S.QUALITY_REPORT: {"degradations": ["tracks: t", "lyrics: l"]},
        degradations.CONTENT_SUMMARY: {"degradations": ["content: c", "tracks: t"]},
        S.LSH_RECALL: None,
    }
    assert degradations.gather(docs) == ["tracks: t", "lyrics: l", "content: c", "evaluate: e"]


def test_the_viewer_reads_the_documents_key():
    assert loaders.DEGRADATIONS == degradations.KEY


def test_too_few_plays_to_evaluate_stop_the_run_with_a_message():
    from recsys.errors import JobFailed

    error = degradations.nothing_held_out(5)
    assert isinstance(error, JobFailed)  # the CLI prints it and exits 1, no traceback
    assert str(error).startswith("triplets: no user has played 5 or more songs")
