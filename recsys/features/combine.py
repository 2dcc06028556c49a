"""From parts to one vector per song: the metadata part, unit parts, artist imputation, centring,
``content_source``, the weighted concatenation and its PCA reduction to ``content.dim``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.ml.feature import PCA, PCAModel
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.columns import scaled, unit_array
from recsys.features.lyrics import weighted_sums
from recsys.features.tokens import (
    TOKEN,
    artist_key,
    metadata_tfidf,
    metadata_tokens,
    sign_projection,
)

if TYPE_CHECKING:
    from recsys.config import ContentConfig

ARTIST_KEY = "artist_key"
OWN_LYRICS = "own_lyrics"
COMBINED = "combined"
REDUCED = "reduced"


# ----------------------------------------------------------------------------- the parts


def part_weights(content: ContentConfig) -> dict[str, float]:
    """The configured weight of each part, in concatenation order; zero-weight parts are off."""
    weights = {
        "tfidf": content.weight_tfidf,
        "metadata": content.weight_metadata,
        "w2v": content.weight_w2v,
        "lda": content.weight_lda,
    }
    return {name: w for name, w in weights.items() if w > 0}


def part_widths(content: ContentConfig, parts_on: dict[str, float]) -> dict[str, int]:
    """The width of each part that is on, in concatenation order."""
    widths = {
        "tfidf": content.projection_dim,
        "metadata": content.projection_dim,
        "w2v": content.w2v_vector_size,
        "lda": content.lda_k,
    }
    return {name: widths[name] for name in parts_on}


def lyric_part_names(widths: dict[str, int]) -> list[str]:
    """The parts that come from lyrics (all but ``metadata``), in concatenation order."""
    return [name for name in widths if name != "metadata"]


def _any_present(names: list[str]) -> Column:
    """True where at least one of the array columns ``names`` is not null."""
    present = F.lit(False)
    for name in names:
        present = present | F.col(name).isNotNull()
    return present


def metadata_part(songs: DataFrame, content: ContentConfig) -> DataFrame:
    """``(song_idx, metadata array<double>)``: the projected TF-IDF of the artist/title tokens."""
    n_songs = songs.agg(F.count(F.lit(1)).alias("n"))
    weights = metadata_tfidf(metadata_tokens(songs), n_songs, content.min_doc_freq)
    projection = sign_projection(F.col(TOKEN), content.projection_dim, content.seed + 1)
    return weighted_sums(weights, TOKEN, {"metadata": (projection, content.projection_dim)})


def unit_parts(
    songs: DataFrame,
    lyric_parts: DataFrame | None,
    metadata: DataFrame | None,
    widths: dict[str, int],
) -> DataFrame:
    """One row per song: ``has_lyrics``, ``artist_key``, each part unit-normalised (null where
    the song lacks it) and ``own_lyrics`` (the song has a lyric part of its own)."""
    parts = songs.select(
        S.SONG,
        F.coalesce(F.col(S.HAS_LYRICS), F.lit(False)).alias(S.HAS_LYRICS),
        artist_key(F.col(S.ARTIST)).alias(ARTIST_KEY),
    )
    if lyric_parts is not None:
        parts = parts.join(lyric_parts, S.SONG, "left")
    if metadata is not None:
        parts = parts.join(metadata, S.SONG, "left")
    for name in widths:
        if name not in parts.columns:  # a lyric part when no song has lyrics
            parts = parts.withColumn(name, F.lit(None).cast("array<double>"))
        parts = parts.withColumn(name, unit_array(F.col(name)))
    return parts.withColumn(OWN_LYRICS, _any_present(lyric_part_names(widths)))


def part_coverage(parts: DataFrame, names: list[str]) -> tuple[list[str], list[str]]:
    """``(present, gappy)``: the parts of ``names`` some song has, and the lyric parts that some
    song with lyrics of its own lacks (one aggregation over ``parts``).

    Spark's Summarizer refuses a group with nothing in it, so a part no song has is neither
    imputed nor centred, and a gappy one is imputed from the songs that have it.
    """
    counts = [F.count(F.col(n)).alias(n) for n in names]
    lacking = [
        F.count(F.when(F.col(OWN_LYRICS) & F.col(n).isNull(), 1)).alias(f"{n}_lacking")
        for n in names
    ]
    row = parts.agg(*counts, *lacking).first()
    present = [n for n in names if row[n]]
    return present, [n for n in present if row[f"{n}_lacking"]]


def _artist_sums(parts: DataFrame, names: list[str], widths: dict[str, int]) -> DataFrame:
    """Per artist, the sum of each part over its songs with lyrics (``<name>_artist``)."""
    sums = []
    for name in names:
        zeros = F.array_repeat(F.lit(0.0), widths[name])
        weight = F.when(F.col(name).isNotNull(), F.lit(1.0)).otherwise(F.lit(0.0))
        vec = array_to_vector(F.coalesce(F.col(name), zeros))
        sums.append(vector_to_array(Summarizer.sum(vec, weight)).alias(f"{name}_artist"))
    return (
        parts.where(F.col(OWN_LYRICS) & F.col(ARTIST_KEY).isNotNull())
        .groupBy(ARTIST_KEY)
        .agg(*sums)
    )


def impute_from_artist(
    parts: DataFrame, names: list[str], widths: dict[str, int], gappy: list[str] | None = None
) -> DataFrame:
    """Songs without lyric parts borrow their artist's mean lyric parts (unit-normalised).

    ``parts`` has ``artist_key``, ``own_lyrics`` (the song has lyric parts of its own) and the
    unit part columns ``names``. An artist's profile is the mean over its songs with lyrics; an
    artist with none leaves the song's lyric parts null. Without this a lyric-less song's
    vector is its metadata alone, and its cosine to a song with lyrics is diluted by the parts
    only the other has, so it would mostly find other lyric-less songs. Each part of ``gappy``
    (some songs with lyrics lack it, see :func:`part_coverage`) is summed apart, over the
    songs that have it.
    """
    if not names:
        return parts
    gappy = [n for n in gappy or [] if n in names]
    full = [n for n in names if n not in gappy]
    imputed = parts
    if full:
        imputed = imputed.join(_artist_sums(parts, full, widths), ARTIST_KEY, "left")
    for name in gappy:
        having = parts.where(F.col(name).isNotNull())
        imputed = imputed.join(_artist_sums(having, [name], widths), ARTIST_KEY, "left")
    for name in names:
        borrowed = F.when(~F.col(OWN_LYRICS), unit_array(F.col(f"{name}_artist")))
        imputed = imputed.withColumn(name, F.coalesce(F.col(name), borrowed))
    return imputed.drop(*[f"{n}_artist" for n in names])


def with_topics(parts: DataFrame, mixtures: DataFrame | None) -> DataFrame:
    """``parts`` with each song's LDA ``topics`` (null without lyrics, or without any lyrics)."""
    if mixtures is None:
        return parts.withColumn(S.TOPICS, F.lit(None).cast("array<double>"))
    return parts.join(mixtures, S.SONG, "left")


# ----------------------------------------------------------------------------- centring


def _part_means(parts: DataFrame, widths: dict[str, int]) -> DataFrame:
    """One row: each part's mean vector over the songs that have the part (``<name>_mean``),
    all in one pass: a song without the part weighs 0, which Spark's Summarizer skips, so each
    mean is the one over the songs that have it."""
    means = []
    for name, width in widths.items():
        has_part = F.when(F.col(name).isNotNull(), F.lit(1.0)).otherwise(F.lit(0.0))
        zeros = F.array_repeat(F.lit(0.0), width)
        vec = array_to_vector(F.coalesce(F.col(name), zeros))
        means.append(vector_to_array(Summarizer.mean(vec, has_part)).alias(f"{name}_mean"))
    return parts.agg(*means)


def centred_parts(parts: DataFrame, widths: dict[str, int]) -> DataFrame:
    """Each unit part (of ``widths``: name -> width) minus its mean over the songs that have it,
    re-normalised (null stays).

    Every part of ``widths`` must be present in some song (:func:`part_coverage`).
    """
    if not widths:
        return parts
    names = list(widths)
    means = _part_means(parts, widths)
    centred = parts.crossJoin(F.broadcast(means))
    for name in names:
        diff = F.zip_with(F.col(name), F.col(f"{name}_mean"), lambda x, m: x - m)
        centred = centred.withColumn(name, unit_array(F.when(F.col(name).isNotNull(), diff)))
    return centred.drop(*[f"{n}_mean" for n in names])


# ----------------------------------------------------------------------------- combining


def content_source(own_lyrics: Column, artist_lyrics: Column, has_metadata_part: Column) -> Column:
    """Which inputs a song's vector comes from (one of :data:`recsys.schemas.CONTENT_SOURCES`)."""
    return (
        F.when(own_lyrics & has_metadata_part, S.SOURCE_LYRICS_METADATA)
        .when(own_lyrics, S.SOURCE_LYRICS)
        .when(artist_lyrics & has_metadata_part, S.SOURCE_METADATA_ARTIST)
        .when(has_metadata_part, S.SOURCE_METADATA)
        .otherwise(S.SOURCE_NONE)
    )


def combine_parts(widths: dict[str, int], weights: dict[str, float]) -> Column:
    """The weighted concatenation of the parts (a missing part is zeros), as array<double>."""
    pieces = []
    for name, width in widths.items():
        zeros = F.array_repeat(F.lit(0.0), width)
        pieces.append(scaled(F.coalesce(F.col(name), zeros), weights[name]))
    return F.concat(*pieces)


def combined_parts(
    parts: DataFrame, widths: dict[str, int], weights: dict[str, float]
) -> DataFrame:
    """``(song_idx, has_lyrics, topics, content_source, combined vector)`` from centred parts."""
    has_meta_part = F.col("metadata").isNotNull() if "metadata" in widths else F.lit(False)
    source = content_source(
        F.col(OWN_LYRICS), _any_present(lyric_part_names(widths)), has_meta_part
    )
    return parts.select(
        S.SONG,
        S.HAS_LYRICS,
        S.TOPICS,
        source.alias(S.CONTENT_SOURCE),
        array_to_vector(combine_parts(widths, weights)).alias(COMBINED),
    )


# ----------------------------------------------------------------------------- reduction


def source_counts(combined: DataFrame) -> dict[str, int]:
    """Songs by ``content_source`` (the five values, zeros included)."""
    rows = combined.groupBy(S.CONTENT_SOURCE).agg(F.count(F.lit(1)).alias("n")).collect()
    found = {r[S.CONTENT_SOURCE]: int(r["n"]) for r in rows}
    return {source: found.get(source, 0) for source in S.CONTENT_SOURCES}


def fit_reduction(combined: DataFrame, dim: int) -> PCAModel:
    """PCA to ``dim`` components, fitted on the songs whose vector has some content (Spark's
    PCA needs at least two)."""
    fit_rows = combined.where(F.col(S.CONTENT_SOURCE) != S.SOURCE_NONE)
    return PCA(k=dim, inputCol=COMBINED, outputCol=REDUCED).fit(fit_rows)


def reduced_vectors(pca_model: PCAModel, combined: DataFrame, dim: int) -> DataFrame:
    """``content_vectors``: the reduced vector, unit length (zeros for ``none``), and topics."""
    reduced = unit_array(vector_to_array(REDUCED))
    zeros = F.array_repeat(F.lit(0.0), dim)
    features = F.when(F.col(S.CONTENT_SOURCE) == S.SOURCE_NONE, zeros).otherwise(
        F.coalesce(reduced, zeros)
    )
    topics = F.transform(F.col(S.TOPICS), lambda x: x.cast("float"))
    top_topic = F.expr(f"array_position({S.TOPICS}, array_max({S.TOPICS}))") - 1
    return pca_model.transform(combined).select(
        F.col(S.SONG).cast("int").alias(S.SONG),
        F.transform(features, lambda x: x.cast("float")).alias(S.FEATURES),
        F.col(S.HAS_LYRICS),
        F.col(S.CONTENT_SOURCE),
        topics.alias(S.TOPICS),
        top_topic.cast("int").alias(S.TOP_TOPIC),
    )
