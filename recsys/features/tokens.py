"""Tokens of a song and their weights: the lyric bag as tokens and as a seeded-order sentence,
artist and title tokens with their IDF, the artist key, and the seeded sign projection of a
token."""

from __future__ import annotations

import math

from pyspark.ml.feature import StopWordsRemover
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S

TOKENS = "tokens"
TOKEN = "token"
SENTENCE = "sentence"
IDF_COL = "idf"


# ----------------------------------------------------------------------------- lyric tokens


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


def sentences(lyrics: DataFrame, max_length: int, seed: int) -> DataFrame:
    """``(song_idx, sentence)``: each song's words as a capped, seeded-order sequence."""
    return lyrics.select(
        S.SONG,
        sentence_tokens(
            F.col(S.SONG), F.col(S.WORD_IDX), F.col(S.WORD_COUNT), max_length, seed
        ).alias(SENTENCE),
    )


# ----------------------------------------------------------------------------- metadata tokens


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


# ----------------------------------------------------------------------------- token weights


def unit_weights(weights: DataFrame, key: str) -> DataFrame:
    """Scale each song's ``weight`` column to unit L2 norm (zero weights dropped)."""
    by_song = Window.partitionBy(S.SONG)
    norm = F.sqrt(F.sum(F.col(S.WEIGHT) * F.col(S.WEIGHT)).over(by_song))
    return (
        weights.where(F.col(S.WEIGHT) > 0)
        .withColumn(S.WEIGHT, F.col(S.WEIGHT) / norm)
        .select(S.SONG, key, S.WEIGHT)
    )


def metadata_tfidf(tokens: DataFrame, n_songs: DataFrame, min_doc_freq: int) -> DataFrame:
    """``(song_idx, token, weight)``: binary term x IDF, unit L2 norm per song.

    ``n_songs`` is a one-row DataFrame with column ``n`` (the number of documents), joined in so
    nothing is collected. IDF follows :class:`pyspark.ml.feature.IDF` exactly (computed in SQL
    because the token set is open).
    """
    df = tokens.groupBy(TOKEN).agg(F.count(F.lit(1)).alias("df"))
    idf = df.crossJoin(n_songs).select(
        TOKEN,
        F.when(F.col("df") >= min_doc_freq, F.log((F.col("n") + 1.0) / (F.col("df") + 1.0)))
        .otherwise(0.0)
        .alias(IDF_COL),
    )
    weighted = tokens.join(idf, TOKEN).select(S.SONG, TOKEN, F.col(IDF_COL).alias(S.WEIGHT))
    return unit_weights(weighted, TOKEN)


# ----------------------------------------------------------------------------- projection


def sign_projection(token: Column, dim: int, seed: int) -> Column:
    """A token's random projection row: ``dim`` values of ``±1/sqrt(dim)`` from a seeded hash."""
    scale = 1.0 / math.sqrt(dim)
    return F.transform(
        F.sequence(F.lit(0), F.lit(dim - 1)),
        lambda j: F.when(
            F.xxhash64(token, j, F.lit(seed)).bitwiseAND(F.lit(1)) == 0, F.lit(scale)
        ).otherwise(F.lit(-scale)),
    )
