"""The content step: songs, lyrics and vocabulary -> content_vectors, lda_topics and the models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.features.vectors import MIN_CONTENT_SONGS, build_content, content_songs
from recsys.steps.degradations import CONTENT_SUMMARY, KEY, count
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from recsys.config import Config

LYRIC_SOURCES = (S.SOURCE_LYRICS_METADATA, S.SOURCE_LYRICS)
METADATA_SOURCES = (S.SOURCE_METADATA_ARTIST, S.SOURCE_METADATA)


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """The ``content`` step: read ingest's tables, write ``content_vectors``, ``lda_topics`` and
    ``content_summary.json`` (the summary with its degradations).

    The fitted models are saved under the run's ``models/`` as ``idf``, ``w2v``, ``lda`` and
    ``pca`` (those not fitted, the lyric ones when no song has lyrics, are not written). With
    too little signal (no song has lyrics or metadata) ``content_vectors`` is empty.
    """
    wh = Warehouse.from_config(cfg)
    lyrics = wh.read_table(spark, run_id, S.LYRICS)
    vocabulary = wh.read_table(spark, run_id, S.VOCABULARY)
    catalogue = wh.read_table(spark, run_id, S.SONGS)
    songs = content_songs(catalogue, cfg.content.cold_songs)
    result = build_content(lyrics, vocabulary, songs, cfg.content)
    try:
        wh.write_table(result.vectors, run_id, S.CONTENT_VECTORS)
        wh.write_table(result.lda_topics, run_id, S.LDA_TOPICS)
        for name, model in result.models.items():
            model.write().overwrite().save(wh.spark_path(wh.model_uri(run_id, name)))
        written = wh.read_table(spark, run_id, S.CONTENT_VECTORS)
        by_source = {
            row[S.CONTENT_SOURCE]: row["n"]
            for row in written.groupBy(S.CONTENT_SOURCE).agg(F.count(F.lit(1)).alias("n")).collect()
        }
        played = played_sources(written, catalogue)
        n_catalogue, n_chosen = catalogue.count(), songs.count()
    finally:
        result.unpersist()
    summary = {
        "songs": sum(by_source.values()),
        "catalogue_songs": n_catalogue,
        "cold_songs": cfg.content.cold_songs,
        "songs_left_out": n_catalogue - n_chosen,
        **{f"source_{k}": v for k, v in sorted(by_source.items())},
        **{k: v for k, v in result.summary.items() if k != "sources"},
    }
    degradations = content_degradations({**result.summary, **summary}, played)
    wh.write_json(
        run_id,
        CONTENT_SUMMARY,
        {
            **summary,
            "sources": result.summary["sources"],
            "played_sources": played,
            KEY: degradations,
        },
    )
    return {**summary, KEY: degradations}


def played_sources(vectors: DataFrame, songs: DataFrame) -> dict[str, int]:
    """Played songs by ``content_source`` (``missing``: played songs without a vector row)."""
    played = songs.where(F.col("n_listeners") > 0).select(S.SONG)
    rows = (
        played.join(vectors.select(S.SONG, S.CONTENT_SOURCE), S.SONG, "left")
        .groupBy(S.CONTENT_SOURCE)
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    )
    found = {r[S.CONTENT_SOURCE] or "missing": int(r["n"]) for r in rows}
    return {source: found.get(source, 0) for source in (*S.CONTENT_SOURCES, "missing")}


def content_degradations(summary: dict[str, Any], played: dict[str, int]) -> list[str]:
    """What the content vectors lack, one sentence each (none when lyrics and metadata reach
    the played songs)."""
    n_played = sum(played.values())
    left_out = summary.get("songs_left_out", 0)
    if "empty_reason" in summary:
        why = (
            f" (content.cold_songs={summary.get('cold_songs')} left out {left_out:,} unplayed "
            "catalogue songs; content.cold_songs=all gives them vectors)"
            if left_out
            else ""
        )
        return [
            f"content: {summary['empty_reason']}{why}, so content_vectors is empty (the vectors "
            f"need at least {MIN_CONTENT_SONGS} songs with either); there are no content "
            "neighbours and the hybrid is the collaborative lists"
        ]
    out = []
    lyric = sum(played[s] for s in LYRIC_SOURCES)
    metadata = sum(played[s] for s in METADATA_SOURCES)
    without = played[S.SOURCE_NONE] + played["missing"]
    if lyric == 0 and metadata == 0:
        songs = sum(n for s, n in summary["sources"].items() if s != S.SOURCE_NONE)
        out.append(
            "content: no played song has lyrics or metadata; content vectors exist for unplayed "
            f"songs only ({songs:,}), so content finds nothing near what users played"
        )
    elif lyric == 0:
        nobody = "no played song" if summary["songs_with_lyrics"] else "no song"
        out.append(
            f"content: {nobody} has lyrics; metadata vectors for {metadata:,} of the "
            f"{count(n_played, 'played song')}"
        )
    if without and (lyric or metadata):
        out.append(
            f"content: {without:,} of the {count(n_played, 'played song')} have no content "
            "vector (no lyrics, and no artist or title word shared with another song)"
        )
    if "w2v_skipped" in summary:
        out.append(f"content: {summary['w2v_skipped']}")
    present = set(summary["parts_present"].split(",")) - {""}
    lyric_parts = [p for p in summary["parts"].split(",") if p not in ("", "metadata")]
    if summary["songs_with_lyrics"]:
        for part in lyric_parts:
            if part not in present and not (part == "w2v" and "w2v_skipped" in summary):
                out.append(
                    f"content: no song has a {part} part (no lyric word weighs anything at "
                    "content.min_doc_freq); it is left out"
                )
    return out
