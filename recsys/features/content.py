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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.ml.clustering import LDA, LDAModel
from pyspark.ml.feature import (
    IDF,
    PCA,
    CountVectorizerModel,
    IDFModel,
    StopWordsRemover,
    Word2Vec,
    Word2VecModel,
)
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.columns import scaled, unit_array
from recsys.errors import ContentError

if TYPE_CHECKING:
    from recsys.config import ContentConfig

TOKENS = "tokens"
TOKEN = "token"
SENTENCE = "sentence"
COUNTS = "counts"
IDF_COL = "idf"
VECTOR = "vector"


# ----------------------------------------------------------------------------- column helpers


def bag_tokens(word_idx: Column, word_count: Column) -> Column:
    """The bag of words as tokens: each word index (as a string) repeated ``count`` times."""
    return F.flatten(
        F.zip_with(word_idx, word_count, lambda i, c: F.array_repeat(i.cast("string"), c))
    )


def sentence_tokens(
    song: Column, word_idx: Column, word_count: Column, max_length: int, seed: int
) -> Column:
    """The bag expanded into a word sequence in a seeded pseudo-random order, capped.

    The bag has no word order, so a fixed order (all repeats of a word side by side) would make
    every Word2Vec context a run of one word; ``xxhash64(song, word, occurrence, seed)`` shuffles
    the occurrences the same way on every run and on every executor.
    """
    keyed = F.flatten(
        F.zip_with(
            word_idx,
            word_count,
            lambda i, c: F.transform(
                F.sequence(F.lit(1), c),
                lambda j: F.struct(F.xxhash64(song, i, j, F.lit(seed)).alias("key"), i.alias("w")),
            ),
        )
    )
    ordered = F.transform(F.array_sort(keyed), lambda s: s["w"].cast("string"))
    return F.slice(ordered, 1, max_length)


def sign_projection(token: Column, dim: int, seed: int) -> Column:
    """A token's random projection row: ``dim`` values of ``±1/sqrt(dim)`` from a seeded hash."""
    scale = 1.0 / math.sqrt(dim)
    return F.transform(
        F.sequence(F.lit(0), F.lit(dim - 1)),
        lambda j: F.when(
            F.xxhash64(token, j, F.lit(seed)).bitwiseAND(F.lit(1)) == 0, F.lit(scale)
        ).otherwise(F.lit(-scale)),
    )


def _unit_weights(weights: DataFrame, key: str) -> DataFrame:
    """Scale each song's ``weight`` column to unit L2 norm (zero weights dropped)."""
    by_song = Window.partitionBy(S.SONG)
    norm = F.sqrt(F.sum(F.col(S.WEIGHT) * F.col(S.WEIGHT)).over(by_song))
    return (
        weights.where(F.col(S.WEIGHT) > 0)
        .withColumn(S.WEIGHT, F.col(S.WEIGHT) / norm)
        .select(S.SONG, key, S.WEIGHT)
    )


# ----------------------------------------------------------------------------- TF-IDF


def vocabulary_size(vocabulary: DataFrame) -> int:
    """The largest word index (word indexes are 1-based and dense)."""
    size = vocabulary.agg(F.max(S.WORD_IDX)).first()[0]
    if size is None:
        raise ContentError("vocabulary is empty: ingest found no '%' word-list line")
    return int(size)


def count_vectors(lyrics: DataFrame, vocab_size: int) -> DataFrame:
    """``(song_idx, counts)``: each song's term counts as a SparseVector, feature ``i`` = word
    ``i + 1``. Built by Spark's CountVectorizerModel from a fixed vocabulary (no fitting pass)."""
    vocab = [str(i) for i in range(1, vocab_size + 1)]
    model = CountVectorizerModel.from_vocabulary(vocab, inputCol=TOKENS, outputCol=COUNTS)
    tokens = lyrics.select(S.SONG, bag_tokens(F.col(S.WORD_IDX), F.col(S.WORD_COUNT)).alias(TOKENS))
    return model.transform(tokens).select(S.SONG, COUNTS)


def fit_idf(counts: DataFrame, min_doc_freq: int) -> IDFModel:
    """Spark's IDF over the count vectors: ``log((m + 1) / (df + 1))``, 0 when df < min."""
    return IDF(minDocFreq=min_doc_freq, inputCol=COUNTS, outputCol="tfidf_sparse").fit(counts)


def idf_table(spark: SparkSession, idf_model: IDFModel) -> DataFrame:
    """``(word_idx, idf)``, one row per vocabulary word (vocabulary-sized: 5,000 for musiXmatch)."""
    rows = [(i + 1, float(v)) for i, v in enumerate(idf_model.idf.toArray())]
    schema = T.StructType(
        [T.StructField(S.WORD_IDX, T.IntegerType(), False), T.StructField(IDF_COL, T.DoubleType())]
    )
    return spark.createDataFrame(rows, schema)


def lyric_tfidf(lyrics: DataFrame, idf: DataFrame) -> DataFrame:
    """``(song_idx, word_idx, weight)``: count x IDF, unit L2 norm per song, zero weights out."""
    pairs = lyrics.select(
        S.SONG, F.explode(F.arrays_zip(S.WORD_IDX, S.WORD_COUNT)).alias("p")
    ).select(S.SONG, F.col("p")[S.WORD_IDX].alias(S.WORD_IDX), F.col("p")[S.WORD_COUNT].alias("n"))
    weighted = pairs.join(F.broadcast(idf), S.WORD_IDX).select(
        S.SONG, S.WORD_IDX, (F.col("n") * F.col(IDF_COL)).alias(S.WEIGHT)
    )
    return _unit_weights(weighted, S.WORD_IDX)


# ----------------------------------------------------------------------------- metadata


def _words(text: Column) -> Column:
    cleaned = F.regexp_replace(F.lower(F.coalesce(text, F.lit(""))), r"[^\p{L}\p{N}]+", " ")
    return F.split(F.trim(cleaned), " ")


def artist_key(artist: Column) -> Column:
    """The artist name lower-cased with punctuation runs as single spaces; null when empty."""
    name = F.array_join(F.filter(_words(artist), lambda w: w != ""), " ")
    return F.when(name != "", name)


def metadata_tokens(songs: DataFrame) -> DataFrame:
    """``(song_idx, token)``: ``artist=<name>``, ``a:<artist word>``, ``t:<title word>``.

    Words are lower-cased runs of letters and digits, at least two characters, English stop
    words (Spark's list) left out; each token once per song.
    """
    stop = F.array(*[F.lit(w) for w in StopWordsRemover.loadDefaultStopWords("english")])

    def keep(words: Column, prefix: str) -> Column:
        kept = F.filter(words, lambda w: (F.length(w) >= 2) & ~F.array_contains(stop, w))
        return F.transform(kept, lambda w: F.concat(F.lit(prefix), w))

    artist_words = _words(F.col(S.ARTIST))
    whole = F.array(F.concat(F.lit("artist="), artist_key(F.col(S.ARTIST))))
    tokens = F.array_distinct(
        F.concat(
            F.coalesce(whole, F.array().cast("array<string>")),
            keep(artist_words, "a:"),
            keep(_words(F.col(S.TITLE)), "t:"),
        )
    )
    return songs.select(S.SONG, F.explode(F.filter(tokens, lambda t: t.isNotNull())).alias(TOKEN))


def metadata_tfidf(tokens: DataFrame, n_songs: DataFrame, min_doc_freq: int) -> DataFrame:
    """``(song_idx, token, weight)``: binary term x IDF, unit L2 norm per song.

    ``n_songs`` is a one-row DataFrame with column ``n`` (the number of documents), joined in so
    nothing is collected. IDF follows :class:`pyspark.ml.feature.IDF` exactly.
    """
    df = tokens.groupBy(TOKEN).agg(F.count(F.lit(1)).alias("df"))
    idf = df.crossJoin(n_songs).select(
        TOKEN,
        F.when(F.col("df") >= min_doc_freq, F.log((F.col("n") + 1.0) / (F.col("df") + 1.0)))
        .otherwise(0.0)
        .alias(IDF_COL),
    )
    weighted = tokens.join(idf, TOKEN).select(S.SONG, TOKEN, F.col(IDF_COL).alias(S.WEIGHT))
    return _unit_weights(weighted, TOKEN)


# ----------------------------------------------------------------------------- Word2Vec


def sentences(lyrics: DataFrame, max_length: int, seed: int) -> DataFrame:
    """``(song_idx, sentence)``: each song's words as a capped, seeded-order sequence."""
    return lyrics.select(
        S.SONG,
        sentence_tokens(
            F.col(S.SONG), F.col(S.WORD_IDX), F.col(S.WORD_COUNT), max_length, seed
        ).alias(SENTENCE),
    )


def fit_word2vec(sentences_df: DataFrame, content: ContentConfig) -> Word2VecModel:
    """Word2Vec over the lyric sentences; words are word indexes as strings."""
    return Word2Vec(
        vectorSize=content.w2v_vector_size,
        minCount=content.w2v_min_count,
        maxIter=content.w2v_max_iter,
        numPartitions=content.w2v_num_partitions,
        windowSize=content.w2v_window_size,
        maxSentenceLength=content.w2v_max_sentence_length,
        seed=content.seed,
        inputCol=SENTENCE,
        outputCol="w2v_mean",
    ).fit(sentences_df)


def word_vectors(model: Word2VecModel) -> DataFrame:
    """``(word_idx, vector array<double>)``, one row per word Word2Vec kept."""
    return model.getVectors().select(
        F.col("word").cast("int").alias(S.WORD_IDX), vector_to_array("vector").alias(VECTOR)
    )


def weighted_sums(
    weights: DataFrame, key: str, vectors: dict[str, tuple[DataFrame | Column, int]]
) -> DataFrame:
    """``(song_idx, <name> array<double>, ...)``: per song, the sum of ``weight x vector``.

    ``weights`` is ``(song_idx, key, weight)``. Each entry of ``vectors`` is ``(source, width)``:
    a table ``(key, vector)`` (joined; keys missing from it count as zero vectors) or a Column
    computing the vector from ``key``. One grouped aggregation sums them all with Spark's
    :class:`~pyspark.ml.stat.Summarizer` (weighted sum in the JVM, no per-row Python).
    """
    rows = weights
    for name, (source, width) in vectors.items():
        if isinstance(source, Column):
            rows = rows.withColumn(name, source)
        else:
            rows = rows.join(F.broadcast(source.withColumnRenamed(VECTOR, name)), key, "left")
        zeros = F.array_repeat(F.lit(0.0), width)
        rows = rows.withColumn(name, array_to_vector(F.coalesce(F.col(name), zeros)))
    sums = [Summarizer.sum(F.col(n), F.col(S.WEIGHT)).alias(n) for n in vectors]
    grouped = rows.groupBy(S.SONG).agg(*sums)
    return grouped.select(S.SONG, *[vector_to_array(F.col(n)).alias(n) for n in vectors])


# ----------------------------------------------------------------------------- LDA


def fit_lda(counts: DataFrame, content: ContentConfig) -> LDAModel:
    """LDA topic model over the count vectors with the online optimizer."""
    return LDA(
        k=content.lda_k,
        maxIter=content.lda_max_iter,
        optimizer="online",
        subsamplingRate=content.lda_subsampling_rate,
        seed=content.seed,
        featuresCol=COUNTS,
        topicDistributionCol="topic_distribution",
    ).fit(counts)


def topic_mixtures(model: LDAModel, counts: DataFrame) -> DataFrame:
    """``(song_idx, topics array<double>)``: each song's topic mixture (sums to 1)."""
    return model.transform(counts).select(
        S.SONG, vector_to_array("topic_distribution").alias(S.TOPICS)
    )


def lda_topics(model: LDAModel, vocabulary: DataFrame, top_words: int) -> DataFrame:
    """``lda_topics``: each topic's ``top_words`` heaviest words, ranked, with their weight."""
    described = model.describeTopics(maxTermsPerTopic=top_words)
    terms = described.select(
        F.col("topic").cast("int").alias(S.TOPIC),
        F.posexplode(F.arrays_zip("termIndices", "termWeights")).alias("pos", "t"),
    ).select(
        S.TOPIC,
        (F.col("pos") + 1).cast("int").alias(S.RANK),
        (F.col("t.termIndices") + 1).cast("int").alias(S.WORD_IDX),
        F.col("t.termWeights").cast("double").alias(S.WEIGHT),
    )
    return terms.join(
        F.broadcast(vocabulary.select(S.WORD_IDX, S.WORD)), S.WORD_IDX, "left"
    ).select(*[f.name for f in S.LDA_TOPICS_SCHEMA.fields])


# ----------------------------------------------------------------------------- combination


def _part_means(parts: DataFrame, names: list[str]) -> DataFrame:
    """One row: each part's mean vector over the songs that have the part (``<name>_mean``)."""
    means = None
    for name in names:
        mean = parts.where(F.col(name).isNotNull()).agg(
            vector_to_array(Summarizer.mean(array_to_vector(F.col(name)))).alias(f"{name}_mean")
        )
        means = mean if means is None else means.crossJoin(mean)
    return means


def centred_parts(parts: DataFrame, names: list[str]) -> DataFrame:
    """Each unit part minus its mean over the songs that have it, re-normalised (null stays)."""
    means = _part_means(parts, names)
    centred = parts.crossJoin(F.broadcast(means))
    for name in names:
        diff = F.zip_with(F.col(name), F.col(f"{name}_mean"), lambda x, m: x - m)
        centred = centred.withColumn(name, unit_array(F.when(F.col(name).isNotNull(), diff)))
    return centred.drop(*[f"{n}_mean" for n in names])


def combine_parts(parts: DataFrame, widths: dict[str, int], weights: dict[str, float]) -> Column:
    """The weighted concatenation of the parts (a missing part is zeros), as array<double>."""
    pieces = []
    for name, width in widths.items():
        zeros = F.array_repeat(F.lit(0.0), width)
        pieces.append(scaled(F.coalesce(F.col(name), zeros), weights[name]))
    return F.concat(*pieces)


def impute_from_artist(parts: DataFrame, names: list[str], widths: dict[str, int]) -> DataFrame:
    """Songs without lyric parts borrow their artist's mean lyric parts (unit-normalised).

    ``parts`` has ``artist_key``, ``own_lyrics`` (the song has lyric parts of its own) and the
    unit part columns ``names``. An artist's profile is the mean over its songs with lyrics; an
    artist with none leaves the song's lyric parts null. Without this a lyric-less song's
    vector is its metadata alone, and its cosine to a song with lyrics is diluted by the parts
    only the other has, so it would mostly find other lyric-less songs.
    """
    if not names:
        return parts
    sums = []
    for name in names:
        zeros = F.array_repeat(F.lit(0.0), widths[name])
        weight = F.when(F.col(name).isNotNull(), F.lit(1.0)).otherwise(F.lit(0.0))
        vec = array_to_vector(F.coalesce(F.col(name), zeros))
        sums.append(vector_to_array(Summarizer.sum(vec, weight)).alias(f"{name}_artist"))
    profiles = (
        parts.where(F.col("own_lyrics") & F.col("artist_key").isNotNull())
        .groupBy("artist_key")
        .agg(*sums)
    )
    imputed = parts.join(profiles, "artist_key", "left")
    for name in names:
        borrowed = F.when(~F.col("own_lyrics"), unit_array(F.col(f"{name}_artist")))
        imputed = imputed.withColumn(name, F.coalesce(F.col(name), borrowed))
    return imputed.drop(*[f"{n}_artist" for n in names])


def content_source(own_lyrics: Column, artist_lyrics: Column, has_metadata_part: Column) -> Column:
    """Which inputs a song's vector comes from (one of :data:`recsys.schemas.CONTENT_SOURCES`)."""
    return (
        F.when(own_lyrics & has_metadata_part, S.SOURCE_LYRICS_METADATA)
        .when(own_lyrics, S.SOURCE_LYRICS)
        .when(artist_lyrics & has_metadata_part, S.SOURCE_METADATA_ARTIST)
        .when(has_metadata_part, S.SOURCE_METADATA)
        .otherwise(S.SOURCE_NONE)
    )


# ----------------------------------------------------------------------------- the whole step


@dataclass
class ContentResult:
    """The ``content_vectors`` and ``lda_topics`` tables, the fitted models and a summary."""

    vectors: DataFrame
    lda_topics: DataFrame
    models: dict[str, Any]
    summary: dict[str, Any]
    cached: list[DataFrame] = field(default_factory=list)

    def unpersist(self) -> None:
        for df in self.cached:
            df.unpersist()


def part_weights(content: ContentConfig) -> dict[str, float]:
    """The configured weight of each part, in concatenation order; zero-weight parts are off."""
    weights = {
        "tfidf": content.weight_tfidf,
        "metadata": content.weight_metadata,
        "w2v": content.weight_w2v,
        "lda": content.weight_lda,
    }
    return {name: w for name, w in weights.items() if w > 0}


def build_content(
    lyrics: DataFrame, vocabulary: DataFrame, songs: DataFrame, content: ContentConfig
) -> ContentResult:
    """Fit the vectorisers and build ``content_vectors`` and ``lda_topics`` (lazily).

    ``lyrics`` is ``(song_idx, word_idx array<int>, word_count array<int>)``, ``vocabulary``
    ``(word_idx, word)``, ``songs`` ``(song_idx, artist, title, has_lyrics)``. The models are
    fitted here (IDF, Word2Vec and LDA each take a pass over the lyrics; PCA one over the parts).
    """
    spark = lyrics.sparkSession
    level = StorageLevel.MEMORY_AND_DISK
    weights = part_weights(content)
    cached: list[DataFrame] = []
    models: dict[str, Any] = {}
    summary: dict[str, Any] = {}

    lyrics = lyrics.select(S.SONG, S.WORD_IDX, S.WORD_COUNT).where(F.size(S.WORD_IDX) > 0)
    vocab_size = vocabulary_size(vocabulary)
    counts = count_vectors(lyrics, vocab_size).persist(level)
    cached.append(counts)
    n_lyrics = counts.count()
    summary["songs_with_lyrics"] = n_lyrics

    widths: dict[str, int] = {}
    if "tfidf" in weights:
        widths["tfidf"] = content.projection_dim
    if "metadata" in weights:
        widths["metadata"] = content.projection_dim
    if "w2v" in weights:
        widths["w2v"] = content.w2v_vector_size
    if "lda" in weights:
        widths["lda"] = content.lda_k

    lyric_parts = None
    topics_table = spark.createDataFrame([], S.LDA_TOPICS_SCHEMA)
    mixtures = None
    if n_lyrics:
        idf_model = fit_idf(counts, content.min_doc_freq)
        models["idf"] = idf_model
        summary["vocabulary"] = vocab_size
        summary["words_with_idf"] = sum(1 for v in idf_model.idf.toArray() if v > 0)
        weights_long = lyric_tfidf(lyrics, idf_table(spark, idf_model)).persist(level)
        cached.append(weights_long)

        token_vectors: dict[str, tuple[DataFrame | Column, int]] = {}
        if "tfidf" in weights:
            token_vectors["tfidf"] = (
                sign_projection(F.col(S.WORD_IDX), content.projection_dim, content.seed),
                content.projection_dim,
            )
        if "w2v" in weights:
            w2v_model = fit_word2vec(
                sentences(lyrics, content.w2v_max_sentence_length, content.seed), content
            )
            models["w2v"] = w2v_model
            token_vectors["w2v"] = (word_vectors(w2v_model), content.w2v_vector_size)
        lda_model = fit_lda(counts, content)
        models["lda"] = lda_model
        topics_table = lda_topics(lda_model, vocabulary, content.lda_top_words)
        mixtures = topic_mixtures(lda_model, counts)
        if token_vectors:
            lyric_parts = weighted_sums(weights_long, S.WORD_IDX, token_vectors)
        if "lda" in weights:
            lda_part = mixtures.select(S.SONG, F.col(S.TOPICS).alias("lda"))
            lyric_parts = (
                lda_part if lyric_parts is None else lyric_parts.join(lda_part, S.SONG, "full")
            )

    base = songs.select(
        S.SONG,
        F.coalesce(F.col(S.HAS_LYRICS), F.lit(False)).alias(S.HAS_LYRICS),
        artist_key(F.col(S.ARTIST)).alias("artist_key"),
    )
    parts = base
    if lyric_parts is not None:
        parts = parts.join(lyric_parts, S.SONG, "left")
    if "metadata" in weights:
        n_songs = songs.agg(F.count(F.lit(1)).alias("n"))
        meta_weights = metadata_tfidf(metadata_tokens(songs), n_songs, content.min_doc_freq)
        meta = weighted_sums(
            meta_weights,
            TOKEN,
            {
                "metadata": (
                    sign_projection(F.col(TOKEN), content.projection_dim, content.seed + 1),
                    content.projection_dim,
                )
            },
        )
        parts = parts.join(meta, S.SONG, "left")
    for name in widths:
        if name not in parts.columns:  # a lyric part when no song has lyrics
            parts = parts.withColumn(name, F.lit(None).cast("array<double>"))
        parts = parts.withColumn(name, unit_array(F.col(name)))
    lyric_names = [n for n in widths if n != "metadata"]
    own_lyrics = F.lit(False)
    for name in lyric_names:
        own_lyrics = own_lyrics | F.col(name).isNotNull()
    # Materialised here: the part columns are array expressions that later steps refer to
    # several times, and a filter pushed into them would recompute them per reference.
    unit_parts = parts.withColumn("own_lyrics", own_lyrics).persist(level)
    cached.append(unit_parts)
    parts = impute_from_artist(unit_parts, lyric_names, widths)
    if mixtures is not None:
        parts = parts.join(mixtures, S.SONG, "left")
    else:
        parts = parts.withColumn(S.TOPICS, F.lit(None).cast("array<double>"))
    parts = centred_parts(parts, list(widths)).persist(level)
    cached.append(parts)

    artist_lyrics = F.lit(False)
    for name in lyric_names:
        artist_lyrics = artist_lyrics | F.col(name).isNotNull()
    has_meta_part = F.col("metadata").isNotNull() if "metadata" in widths else F.lit(False)
    combined = parts.select(
        S.SONG,
        S.HAS_LYRICS,
        S.TOPICS,
        content_source(F.col("own_lyrics"), artist_lyrics, has_meta_part).alias(S.CONTENT_SOURCE),
        array_to_vector(combine_parts(parts, widths, weights)).alias("combined"),
    )
    fit_rows = combined.where(F.col(S.CONTENT_SOURCE) != S.SOURCE_NONE)
    pca_model = PCA(k=content.dim, inputCol="combined", outputCol="reduced").fit(fit_rows)
    models["pca"] = pca_model
    summary["pca_explained_variance"] = round(float(sum(pca_model.explainedVariance)), 4)

    reduced = unit_array(vector_to_array("reduced"))
    zeros = F.array_repeat(F.lit(0.0), content.dim)
    features = F.when(F.col(S.CONTENT_SOURCE) == S.SOURCE_NONE, zeros).otherwise(
        F.coalesce(reduced, zeros)
    )
    topics = F.transform(F.col(S.TOPICS), lambda x: x.cast("float"))
    top_topic = F.expr(f"array_position({S.TOPICS}, array_max({S.TOPICS}))") - 1
    vectors = pca_model.transform(combined).select(
        F.col(S.SONG).cast("int").alias(S.SONG),
        F.transform(features, lambda x: x.cast("float")).alias(S.FEATURES),
        F.col(S.HAS_LYRICS),
        F.col(S.CONTENT_SOURCE),
        topics.alias(S.TOPICS),
        top_topic.cast("int").alias(S.TOP_TOPIC),
    )
    summary["parts"] = ",".join(widths)
    return ContentResult(vectors, topics_table, models, summary, cached)
