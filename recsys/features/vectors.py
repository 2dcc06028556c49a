"""Content vectors for songs: TF-IDF, Word2Vec and LDA over the musiXmatch bag of words, artist
and title tokens, and one combined unit vector per song (the ``content`` step).

The parts, each L2-normalised per song:

- ``tfidf``: lyric term counts re-weighted by :class:`pyspark.ml.feature.IDF` (fitted on count
  vectors that :class:`~pyspark.ml.feature.CountVectorizerModel` builds from the bag, feature
  ``i`` = word ``i + 1``), projected to ``projection_dim`` columns (see below).
- ``metadata``: artist and title tokens (the whole artist name, artist words, title words less
  English stop words), weighted by the same IDF formula as Spark's (``log((m + 1) / (df + 1))``,
  0 below ``min_doc_freq``) computed in SQL because the token set is open, then projected.
- ``w2v``: the TF-IDF-weighted mean of the song's words' :class:`~pyspark.ml.feature.Word2Vec`
  vectors (a join of the song's words to the word-vector table and a weighted sum).
- ``lda``: the :class:`~pyspark.ml.clustering.LDA` topic mixture (online optimizer).

Sparse parts are reduced by a seeded sign random projection applied in the long form
``(song, token, weight)``: each token's ``±1/sqrt(d)`` vector comes from ``xxhash64(token, j,
seed)``, so no projection matrix is stored and any token (also an unseen artist) has one. This is
the hashing trick with the collisions spread over ``d`` dimensions instead of one bucket.

Each part is centred on its mean over the songs that have it (so a missing part, left at zero,
is neutral rather than "unlike everything"), weighted by ``weight_<part>`` and concatenated; the
concatenation is reduced to ``content.dim`` with :class:`pyspark.ml.feature.PCA` fitted on the
songs and L2-normalised. Why PCA over one more random projection: the input is already only a few
hundred dense columns, so the fit is one pass with a small Gramian on the driver; PCA keeps the
directions along which songs actually differ (the shared topics and genres), which a random
projection to 64 columns would blur with noise of about ``1/sqrt(64)`` on every cosine.
Songs without lyrics get a vector from their metadata alone; ``content_source`` says which parts
a vector has, ``none`` (all-zero features) when a song has no lyrics and no usable metadata.

The pieces live beside this module: :mod:`~recsys.features.tokens` (tokens, their weights, the
projection), :mod:`~recsys.features.lyrics` (IDF, Word2Vec, LDA and the lyric parts) and
:mod:`~recsys.features.combine` (imputation, centring, concatenation, PCA); :func:`build_content`
runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.features.combine import (
    centred_parts,
    combined_parts,
    fit_reduction,
    impute_from_artist,
    lyric_part_names,
    metadata_part,
    part_coverage,
    part_weights,
    part_widths,
    reduced_vectors,
    source_counts,
    unit_parts,
    with_topics,
)
from recsys.features.lyrics import (
    CACHE_LEVEL,
    LyricFit,
    check_vocabulary,
    count_vectors,
    fit_lyrics,
    vocabulary_size,
)

if TYPE_CHECKING:
    from recsys.config import ContentConfig


@dataclass
class ContentResult:
    """The ``content_vectors`` and ``lda_topics`` tables, the fitted models and a summary.

    ``models`` maps ``idf``, ``w2v``, ``lda`` (each only when fitted: not without lyrics, ``w2v``
    not when its part is off or has no word) and ``pca`` (not when ``vectors`` is empty) to the
    fitted Spark ML models. ``summary["sources"]`` counts the songs by ``content_source``;
    ``vectors`` is empty (and ``summary["empty_reason"]`` says why) when fewer than
    :data:`MIN_CONTENT_SONGS` songs have lyrics or metadata.
    """

    vectors: DataFrame
    lda_topics: DataFrame
    models: dict[str, Any]
    summary: dict[str, Any]
    cached: list[DataFrame] = field(default_factory=list)

    def unpersist(self) -> None:
        for df in self.cached:
            df.unpersist()


MIN_CONTENT_SONGS = 2  # Spark's PCA needs two rows for a covariance


def in_content(songs: DataFrame, cold_songs: str):
    """The condition on ``songs`` (the catalogue) of the songs that get a content vector
    (``content.cold_songs``): every played song, and the unplayed ones with lyrics
    (``lyrics``), also those by an artist someone played (``artists``), or all (``all``)."""
    keep = (F.col("n_listeners") > 0) | F.col(S.HAS_LYRICS)
    if cold_songs == "all":
        return F.lit(True)
    if cold_songs == "artists":
        return keep | F.col("_played_artist")
    return keep


def content_songs(songs: DataFrame, cold_songs: str) -> DataFrame:
    """The catalogue's songs that get a content vector (:func:`in_content`); for ``artists``
    the played artists (at most the catalogue's artists) are joined by broadcast."""
    if cold_songs == "artists":
        artists = (
            songs.where((F.col("n_listeners") > 0) & F.col(S.ARTIST).isNotNull())
            .select(S.ARTIST)
            .distinct()
            .withColumn("_played_artist", F.lit(True))
        )
        flagged = songs.join(F.broadcast(artists), S.ARTIST, "left").fillna(
            False, subset=["_played_artist"]
        )
        return flagged.where(in_content(flagged, cold_songs)).select(*songs.columns)
    return songs.where(in_content(songs, cold_songs))


def build_content(
    lyrics: DataFrame, vocabulary: DataFrame, songs: DataFrame, content: ContentConfig
) -> ContentResult:
    """Fit the vectorisers and build ``content_vectors`` and ``lda_topics`` (lazily).

    ``lyrics`` is ``(song_idx, word_idx array<int>, word_count array<int>)``, ``vocabulary``
    ``(word_idx, word)``, ``songs`` ``(song_idx, artist, title, has_lyrics)``. The models are
    fitted here (IDF, Word2Vec and LDA each take a pass over the lyrics; PCA one over the parts)
    from the signal that exists: no lyrics leaves the lyric parts out, no metadata the metadata
    part, and with neither the vectors are an empty table.
    """
    weights = part_weights(content)
    widths = part_widths(content, weights)
    lyrics = lyrics.select(S.SONG, S.WORD_IDX, S.WORD_COUNT).where(F.size(S.WORD_IDX) > 0)
    vocab_size = vocabulary_size(vocabulary)
    check_vocabulary(vocab_size, lyrics)
    cached: list[DataFrame] = []
    n_lyrics = 0
    if vocab_size:
        counts = count_vectors(lyrics, vocab_size).persist(CACHE_LEVEL)
        cached.append(counts)
        n_lyrics = counts.count()
    summary: dict[str, Any] = {"songs_with_lyrics": n_lyrics}
    if n_lyrics:
        summary["vocabulary"] = vocab_size
        fit = fit_lyrics(lyrics, counts, vocabulary, content, weights)
    else:
        fit = LyricFit.empty(lyrics.sparkSession)
    summary.update(fit.summary)
    models = dict(fit.models)

    metadata = metadata_part(songs, content) if "metadata" in weights else None
    # Materialised here: the part columns are array expressions that later steps refer to
    # several times, and a filter pushed into them would recompute them per reference.
    units = unit_parts(songs, fit.parts, metadata, widths).persist(CACHE_LEVEL)
    present, gappy = part_coverage(units, list(widths))
    lyric_parts = [name for name in lyric_part_names(widths) if name in present]
    imputed = impute_from_artist(units, lyric_parts, widths, gappy)
    # persisted: the means take a pass over it and the centring another, and it is costly to
    # recompute (the artist sums' join and array expressions)
    imputed = with_topics(imputed, fit.mixtures).persist(CACHE_LEVEL)
    parts = centred_parts(imputed, {n: widths[n] for n in present}).persist(CACHE_LEVEL)
    cached += [*fit.cached, units, imputed, parts]

    combined = combined_parts(parts, widths, weights)
    sources = source_counts(combined)
    summary["parts"] = ",".join(widths)
    summary["parts_present"] = ",".join(present)
    summary["sources"] = sources
    with_content = sum(n for source, n in sources.items() if source != S.SOURCE_NONE)
    if with_content < MIN_CONTENT_SONGS:
        summary["empty_reason"] = (
            "no song has lyrics or metadata (artist, title)"
            if with_content == 0
            else f"only {with_content} song has lyrics or metadata (artist, title), fewer than "
            f"the {MIN_CONTENT_SONGS} the vectors need"
        )
        empty = lyrics.sparkSession.createDataFrame([], S.CONTENT_VECTORS_SCHEMA)
        return ContentResult(empty, fit.topics, models, summary, cached)
    pca_model = fit_reduction(combined, content.dim)
    models["pca"] = pca_model
    summary["pca_explained_variance"] = round(float(sum(pca_model.explainedVariance)), 4)
    vectors = reduced_vectors(pca_model, combined, content.dim)
    return ContentResult(vectors, fit.topics, models, summary, cached)
