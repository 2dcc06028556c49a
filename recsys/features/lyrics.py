"""What the lyrics give: count vectors, the fitted IDF, Word2Vec and LDA models, their tables, and
the per-song lyric parts (``tfidf``, ``w2v``, ``lda``) as weighted sums of token vectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.ml.clustering import LDA, LDAModel
from pyspark.ml.feature import IDF, CountVectorizerModel, IDFModel, Word2Vec, Word2VecModel
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import ContentError
from recsys.features.tokens import (
    IDF_COL,
    SENTENCE,
    TOKENS,
    bag_tokens,
    sentences,
    sign_projection,
    unit_weights,
)

if TYPE_CHECKING:
    from recsys.config import ContentConfig

COUNTS = "counts"
VECTOR = "vector"
CACHE_LEVEL = StorageLevel.MEMORY_AND_DISK


# ----------------------------------------------------------------------------- TF-IDF


def vocabulary_size(vocabulary: DataFrame) -> int:
    """The largest word index (word indexes are 1-based and dense); 0 for no vocabulary."""
    size = vocabulary.agg(F.max(S.WORD_IDX)).first()[0]
    return 0 if size is None else int(size)


def check_vocabulary(vocab_size: int, lyrics: DataFrame) -> None:
    """Lyrics need a vocabulary: ingest writes one whenever it writes a lyric.

    Raises
    ------
    ContentError
        When some song has lyrics but the vocabulary is empty.
    """
    if vocab_size == 0 and lyrics.take(1):
        raise ContentError(
            "vocabulary is empty but the lyrics table has rows: ingest found no '%' word-list "
            "line for them; re-run ingest on the musiXmatch file with its '%' line"
        )


def word2vec_has_words(lyrics: DataFrame, min_count: int) -> bool:
    """Whether Word2Vec would keep a word: some word occurs ``min_count`` times in all.

    One cheap pass (the largest count in any song) settles it for real lyrics; only when no
    single song has a word that often are the words' totals summed.
    """
    top = lyrics.agg(F.max(F.array_max(S.WORD_COUNT))).first()[0]
    if top is not None and top >= min_count:
        return True
    totals = (
        lyrics.select(F.explode(F.arrays_zip(S.WORD_IDX, S.WORD_COUNT)).alias("p"))
        .groupBy(F.col("p")[S.WORD_IDX])
        .agg(F.sum(F.col("p")[S.WORD_COUNT]).alias("n"))
    )
    return bool(totals.where(F.col("n") >= min_count).take(1))


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
    return unit_weights(weighted, S.WORD_IDX)


def word_projections(spark: SparkSession, vocab_size: int, dim: int, seed: int) -> DataFrame:
    """``(word_idx, vector)``: every vocabulary word's sign projection
    (:func:`recsys.features.tokens.sign_projection`), computed once per word and joined by
    broadcast (vocabulary-sized: 5,000 x ``dim`` for musiXmatch) instead of hashed ``dim``
    times on each of the lyrics' (song, word) rows."""
    words = spark.range(1, vocab_size + 1).select(F.col("id").cast("int").alias(S.WORD_IDX))
    return words.select(S.WORD_IDX, sign_projection(F.col(S.WORD_IDX), dim, seed).alias(VECTOR))


# ----------------------------------------------------------------------------- Word2Vec


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


# ----------------------------------------------------------------------------- the lyric parts


@dataclass
class LyricFit:
    """The fitted lyric models, the songs' lyric parts, LDA's mixtures and ``lda_topics``.

    ``parts`` is ``(song_idx, <part> array<double>, ...)`` for the lyric parts that are on (null
    when none is), ``mixtures`` ``(song_idx, topics)``; ``cached`` the DataFrames persisted here.
    """

    models: dict[str, Any]
    parts: DataFrame | None
    mixtures: DataFrame | None
    topics: DataFrame
    summary: dict[str, Any]
    cached: list[DataFrame] = field(default_factory=list)

    @classmethod
    def empty(cls, spark: SparkSession) -> LyricFit:
        """No song has lyrics: no models, no lyric parts, an empty ``lda_topics``."""
        return cls({}, None, None, spark.createDataFrame([], S.LDA_TOPICS_SCHEMA), {})


def fit_lyrics(
    lyrics: DataFrame,
    counts: DataFrame,
    vocabulary: DataFrame,
    content: ContentConfig,
    parts_on: dict[str, float],
) -> LyricFit:
    """Fit IDF, Word2Vec (when ``w2v`` is on) and LDA and build the lyric parts that are on.

    ``counts`` is :func:`count_vectors` of ``lyrics`` (persisted: IDF and LDA each take a pass
    over it). ``tfidf`` and ``w2v`` are weighted sums over the song's TF-IDF weights of the
    words' sign projections and Word2Vec vectors; ``lda`` is the topic mixture.
    """
    idf_model = fit_idf(counts, content.min_doc_freq)
    models: dict[str, Any] = {"idf": idf_model}
    summary: dict[str, Any] = {"words_with_idf": sum(1 for v in idf_model.idf.toArray() if v > 0)}
    tfidf = lyric_tfidf(lyrics, idf_table(lyrics.sparkSession, idf_model)).persist(CACHE_LEVEL)

    token_vectors: dict[str, tuple[DataFrame | Column, int]] = {}
    if "tfidf" in parts_on:
        projections = word_projections(
            lyrics.sparkSession, vocabulary_size(vocabulary), content.projection_dim, content.seed
        )
        token_vectors["tfidf"] = (projections, content.projection_dim)
    if "w2v" in parts_on and not word2vec_has_words(lyrics, content.w2v_min_count):
        summary["w2v_skipped"] = (
            f"no lyric word occurs content.w2v_min_count={content.w2v_min_count} times, so "
            "Word2Vec has no word to learn; the w2v part is left out"
        )
    elif "w2v" in parts_on:
        sentences_df = sentences(lyrics, content.w2v_max_sentence_length, content.seed)
        models["w2v"] = fit_word2vec(sentences_df, content)
        token_vectors["w2v"] = (word_vectors(models["w2v"]), content.w2v_vector_size)
    lda_model = fit_lda(counts, content)
    models["lda"] = lda_model
    topics = lda_topics(lda_model, vocabulary, content.lda_top_words)
    # read twice (the lda part, and the topics beside the vectors): LDA's inference runs once
    mixtures = topic_mixtures(lda_model, counts).persist(CACHE_LEVEL)

    parts = weighted_sums(tfidf, S.WORD_IDX, token_vectors) if token_vectors else None
    if "lda" in parts_on:
        lda_part = mixtures.select(S.SONG, F.col(S.TOPICS).alias("lda"))
        parts = lda_part if parts is None else parts.join(lda_part, S.SONG, "full")
    return LyricFit(models, parts, mixtures, topics, summary, [tfidf, mixtures])
