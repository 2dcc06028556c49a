"""Content vectorisers on tiny hand-made corpora with an obvious right answer."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.config import ContentConfig
from recsys.features.lyrics import (
    VECTOR,
    check_vocabulary,
    count_vectors,
    fit_idf,
    idf_table,
    lyric_tfidf,
    weighted_sums,
    word_projections,
    word_vectors,
)
from recsys.features.tokens import (
    SENTENCE,
    TOKEN,
    metadata_tfidf,
    metadata_tokens,
    sentences,
    sign_projection,
)
from recsys.features.vectors import build_content

LYRICS_DDL = "song_idx int, word_idx array<int>, word_count array<int>"
SONGS_DDL = "song_idx int, artist string, title string, has_lyrics boolean"
GROUP_A = list(range(1, 11))  # planted vocabulary of the even songs
GROUP_B = list(range(11, 21))  # planted vocabulary of the odd songs
SHARED = list(range(21, 26))  # words both use
N_LYRIC_SONGS = 40


def group_of(word: int) -> str:
    return "A" if word in GROUP_A else "B" if word in GROUP_B else "shared"


# ----------------------------------------------------------------------------- IDF by hand


def test_count_vectors_hold_the_bag(spark):
    lyrics = spark.createDataFrame([(0, [1, 3], [2, 5]), (1, [2], [1])], LYRICS_DDL)
    rows = {r[S.SONG]: r["counts"].toArray().tolist() for r in count_vectors(lyrics, 4).collect()}
    assert rows == {0: [2.0, 0.0, 5.0, 0.0], 1: [0.0, 1.0, 0.0, 0.0]}


def test_idf_weights_by_hand(spark):
    # word 1 in 3 songs, word 2 in 2, word 3 in 1 (below min_doc_freq=2), word 4 in none
    lyrics = spark.createDataFrame(
        [(0, [1, 2], [3, 1]), (1, [1, 3], [1, 4]), (2, [1, 2], [2, 2])], LYRICS_DDL
    )
    counts = count_vectors(lyrics, 4)
    model = fit_idf(counts, min_doc_freq=2)
    m = 3
    expected = [math.log((m + 1) / (3 + 1)), math.log((m + 1) / (2 + 1)), 0.0, 0.0]
    assert model.idf.toArray() == pytest.approx(expected)

    weights = lyric_tfidf(lyrics, idf_table(spark, model)).collect()
    got = {(r[S.SONG], r[S.WORD_IDX]): r[S.WEIGHT] for r in weights}
    # song 0: word 1 has idf log(4/4) = 0 -> dropped; word 2 alone -> weight 1 after L2
    # song 2: word 1 dropped (idf 0); word 2 -> 1.0; song 1: word 1 idf 0, word 3 below min df
    assert got == pytest.approx({(0, 2): 1.0, (2, 2): 1.0})


def test_tfidf_is_l2_normalised_by_hand(spark):
    lyrics = spark.createDataFrame(
        [(0, [1, 2], [3, 1]), (1, [2], [1]), (2, [3], [1]), (3, [4], [2])], LYRICS_DDL
    )
    model = fit_idf(count_vectors(lyrics, 4), min_doc_freq=1)
    idf = [math.log(5 / 2), math.log(5 / 3), math.log(5 / 2), math.log(5 / 2)]
    assert model.idf.toArray() == pytest.approx(idf)
    rows = lyric_tfidf(lyrics, idf_table(spark, model)).where(f"{S.SONG} = 0").collect()
    raw = {1: 3 * idf[0], 2: 1 * idf[1]}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    assert {r[S.WORD_IDX]: r[S.WEIGHT] for r in rows} == pytest.approx(
        {w: v / norm for w, v in raw.items()}
    )


def test_metadata_tokens_and_their_idf(spark):
    songs = spark.createDataFrame(
        [
            (0, "The Beatles", "Let It Be (Remastered)", True),
            (1, "the  beatles", "Yesterday", True),
            (2, None, None, False),
            (3, "Nina Simone", "Let Me", False),
        ],
        SONGS_DDL,
    )
    tokens = metadata_tokens(songs)
    by_song = {}
    for r in tokens.collect():
        by_song.setdefault(r[S.SONG], set()).add(r[TOKEN])
    assert by_song[0] == {"artist=the beatles", "a:beatles", "t:let", "t:remastered"}
    assert by_song[1] == {"artist=the beatles", "a:beatles", "t:yesterday"}
    assert 2 not in by_song  # no artist, no title: no tokens
    n_songs = songs.agg(F.count(F.lit(1)).alias("n"))
    weights = metadata_tfidf(tokens, n_songs, min_doc_freq=2).collect()
    got = {(r[S.SONG], r[TOKEN]): r[S.WEIGHT] for r in weights}
    # artist=..., a:beatles and t:let are in two songs: idf log(5/3) each; the rest idf 0
    third = 1 / math.sqrt(3)
    assert got == pytest.approx(
        {
            (0, "artist=the beatles"): third,
            (0, "a:beatles"): third,
            (0, "t:let"): third,
            (1, "artist=the beatles"): 1 / math.sqrt(2),
            (1, "a:beatles"): 1 / math.sqrt(2),
            (3, "t:let"): 1.0,
        }
    )


def test_sentences_are_the_bag_in_a_seeded_order(spark):
    lyrics = spark.createDataFrame([(0, [4, 9], [3, 2])], LYRICS_DDL)
    first = sentences(lyrics, max_length=100, seed=1).first()[SENTENCE]
    again = sentences(lyrics, max_length=100, seed=1).first()[SENTENCE]
    capped = sentences(lyrics, max_length=3, seed=1).first()[SENTENCE]
    assert sorted(first) == ["4", "4", "4", "9", "9"]
    assert first == again
    assert capped == first[:3]


# ----------------------------------------------------------------------------- planted corpus


@pytest.fixture(scope="module")
def planted(spark):
    """40 songs: even ones use vocabulary A, odd ones B, all some shared words; plus three
    lyric-less songs (by an artist of the A songs, with no metadata at all, by an artist with
    no lyric songs)."""
    rng = random.Random(1)
    lyrics, songs = [], []
    for s in range(N_LYRIC_SONGS):
        pool = GROUP_A if s % 2 == 0 else GROUP_B
        words = sorted(set(rng.sample(pool, 6) + rng.sample(SHARED, 2)))
        lyrics.append((s, words, [rng.randint(1, 5) for _ in words]))
        songs.append((s, f"artist {s % 4}", f"song {s}", True))
    songs.append((40, "artist 0", "song without words", False))  # artist 0 sings A
    songs.append((41, None, None, False))
    songs.append((42, "solo act", "song alone", False))  # an artist without lyric songs
    lyrics_df = spark.createDataFrame(lyrics, LYRICS_DDL)
    vocab = spark.createDataFrame([(i, f"w{i}") for i in range(1, 26)], "word_idx int, word string")
    songs_df = spark.createDataFrame(songs, SONGS_DDL)
    cfg = ContentConfig(
        min_doc_freq=1,
        w2v_vector_size=8,
        w2v_min_count=1,
        w2v_max_iter=3,
        lda_k=2,
        lda_max_iter=10,
        lda_subsampling_rate=1.0,
        lda_top_words=8,
        projection_dim=16,
        dim=8,
    )
    result = build_content(lyrics_df, vocab, songs_df, cfg)
    vectors = {r[S.SONG]: r.asDict() for r in result.vectors.collect()}
    topics = [r.asDict() for r in result.lda_topics.collect()]
    yield result, vectors, topics, cfg
    result.unpersist()


def test_vectors_are_unit_length_with_the_configured_dimension(planted):
    _, vectors, _, cfg = planted
    assert set(vectors) == set(range(43))
    for song, row in vectors.items():
        feats = np.asarray(row[S.FEATURES])
        assert feats.shape == (cfg.dim,)
        expected = 0.0 if song == 41 else 1.0
        assert np.linalg.norm(feats) == pytest.approx(expected, abs=1e-5)


def test_combined_vectors_separate_the_planted_groups(planted):
    _, vectors, _, _ = planted
    feats = {s: np.asarray(r[S.FEATURES]) for s, r in vectors.items() if s < N_LYRIC_SONGS}
    for s, v in feats.items():
        same = [v @ w for t, w in feats.items() if t != s and t % 2 == s % 2]
        other = [v @ w for t, w in feats.items() if t % 2 != s % 2]
        assert min(same) > max(other), s


def test_lda_separates_two_planted_vocabularies(planted):
    _, vectors, topics, cfg = planted
    # every song's dominant topic is its group's, and the two groups get different topics
    topic_of_group = {}
    for s in range(N_LYRIC_SONGS):
        group = "A" if s % 2 == 0 else "B"
        topic_of_group.setdefault(group, set()).add(vectors[s][S.TOP_TOPIC])
        mix = vectors[s][S.TOPICS]
        assert len(mix) == cfg.lda_k and sum(mix) == pytest.approx(1.0, abs=1e-4)
    assert len(topic_of_group["A"]) == 1 and len(topic_of_group["B"]) == 1
    assert topic_of_group["A"] != topic_of_group["B"]
    # the readable table: each topic's top words come from its group's vocabulary (or shared)
    for group, (topic,) in topic_of_group.items():
        words = [t for t in topics if t[S.TOPIC] == topic]
        assert [t[S.RANK] for t in sorted(words, key=lambda t: t[S.RANK])] == list(
            range(1, cfg.lda_top_words + 1)
        )
        groups = {group_of(t[S.WORD_IDX]) for t in words}
        assert groups <= {group, "shared"}
        assert all(t[S.WORD] == f"w{t[S.WORD_IDX]}" for t in words)


def test_word2vec_vectors_and_nearest_words(planted, spark):
    result, _, _, cfg = planted
    model = result.models["w2v"]
    table = word_vectors(model).collect()
    assert {r[S.WORD_IDX] for r in table} == set(range(1, 26))
    assert {len(r[VECTOR]) for r in table} == {cfg.w2v_vector_size}
    same_group = []
    for word in GROUP_A + GROUP_B:
        nearest = [int(r["word"]) for r in model.findSynonyms(str(word), 5).collect()]
        planted_nearest = [w for w in nearest if group_of(w) != "shared"]
        same_group += [group_of(w) == group_of(word) for w in planted_nearest]
    assert np.mean(same_group) >= 0.9


def test_songs_without_lyrics_get_metadata_vectors(planted):
    _, vectors, _, _ = planted
    lonely, empty = vectors[40], vectors[41]
    assert lonely[S.HAS_LYRICS] is False
    assert lonely[S.CONTENT_SOURCE] == S.SOURCE_METADATA_ARTIST
    assert lonely[S.TOPICS] is None and lonely[S.TOP_TOPIC] is None
    v = np.asarray(lonely[S.FEATURES])
    to_a = np.mean([v @ np.asarray(vectors[s][S.FEATURES]) for s in range(0, 40, 2)])
    to_b = np.mean([v @ np.asarray(vectors[s][S.FEATURES]) for s in range(1, 40, 2)])
    assert to_a > to_b  # its artist sings the A songs
    assert empty[S.CONTENT_SOURCE] == S.SOURCE_NONE
    assert vectors[0][S.CONTENT_SOURCE] == S.SOURCE_LYRICS_METADATA
    # no lyric songs by "solo act": the vector is its title's shared word alone
    solo = vectors[42]
    assert solo[S.CONTENT_SOURCE] == S.SOURCE_METADATA
    assert np.linalg.norm(solo[S.FEATURES]) == pytest.approx(1.0, abs=1e-5)


def test_sign_projection_preserves_inner_products_roughly(spark):
    dim = 256
    df = spark.createDataFrame([(t,) for t in ("a", "b", "c")], "token string")
    rows = {
        r["token"]: np.asarray(r["p"])
        for r in df.select("token", sign_projection(F.col("token"), dim, 3).alias("p")).collect()
    }
    for v in rows.values():
        assert np.linalg.norm(v) == pytest.approx(1.0)
        assert set(np.round(v * math.sqrt(dim), 6)) == {1.0, -1.0}
    # independent random signs: |cos| of distinct tokens is about 1/sqrt(dim)
    assert abs(rows["a"] @ rows["b"]) < 4 / math.sqrt(dim)


def test_the_tfidf_part_from_the_word_table_is_the_per_row_projection(spark):
    """The projections joined from a per-word table give the part hashed on every (song,
    word) row, exactly: the same values summed in the same order."""
    rng = random.Random(5)
    rows = []
    for song in range(60):
        words = sorted(rng.sample(range(1, 31), rng.randint(1, 12)))
        rows.append((song, words, [rng.randint(1, 9) for _ in words]))
    lyrics = spark.createDataFrame(rows, LYRICS_DDL)
    tfidf = lyric_tfidf(lyrics, idf_table(spark, fit_idf(count_vectors(lyrics, 30), 2)))
    dim, seed = 16, 7
    per_row = weighted_sums(
        tfidf, S.WORD_IDX, {"tfidf": (sign_projection(F.col(S.WORD_IDX), dim, seed), dim)}
    )
    table = word_projections(spark, 30, dim, seed)
    assert table.count() == 30
    joined = weighted_sums(tfidf, S.WORD_IDX, {"tfidf": (table, dim)})
    old = {r[S.SONG]: r["tfidf"] for r in per_row.collect()}
    new = {r[S.SONG]: r["tfidf"] for r in joined.collect()}
    assert new == old and len(new) == 60
    assert any(v != [0.0] * dim for v in new.values())


# ----------------------------------------------------------------------------- little signal


def _small_cfg() -> ContentConfig:
    return ContentConfig(
        min_doc_freq=2,
        w2v_vector_size=4,
        w2v_min_count=1,
        lda_k=2,
        lda_max_iter=2,
        lda_subsampling_rate=1.0,
        projection_dim=8,
        dim=4,
    )


def _build(spark, lyrics, songs, vocab_size):
    vocab = spark.createDataFrame(
        [(i, f"w{i}") for i in range(1, vocab_size + 1)], "word_idx int, word string"
    )
    result = build_content(
        spark.createDataFrame(lyrics, LYRICS_DDL),
        vocab,
        spark.createDataFrame(songs, SONGS_DDL),
        _small_cfg(),
    )
    rows = {r[S.SONG]: r.asDict() for r in result.vectors.collect()}
    result.unpersist()
    return result, rows


@pytest.mark.parametrize(
    ("lyrics", "songs", "reason"),
    [
        # the triplets alone: no vocabulary, no lyrics, no artist or title
        ([], [(0, None, None, False), (1, None, None, False)], "no song has lyrics or metadata"),
        # one song with lyrics, none with metadata: too few for PCA
        ([(0, [1, 2], [1, 1])], [(0, None, None, True), (1, None, None, False)], "only 1 song"),
    ],
)
def test_without_enough_lyrics_or_metadata_the_vectors_are_empty(spark, lyrics, songs, reason):
    result, rows = _build(spark, lyrics, songs, 2 if lyrics else 0)
    assert rows == {}
    assert reason in result.summary["empty_reason"]
    assert "pca" not in result.models
    assert result.lda_topics.count() == (2 * 2 if lyrics else 0)  # lda_k topics x 2 words


def test_metadata_alone_gives_metadata_vectors(spark):
    songs = [(0, "The Band", "Blue Song", False), (1, "The Band", "Red Song", False)]
    songs += [(2, "Other Act", "Blue Sky", False), (3, None, None, False)]
    result, rows = _build(spark, [], songs, 0)
    assert result.summary["parts_present"] == "metadata"
    assert result.summary["sources"][S.SOURCE_METADATA] == 3
    assert {s: r[S.CONTENT_SOURCE] for s, r in rows.items()} == {
        0: S.SOURCE_METADATA,
        1: S.SOURCE_METADATA,
        2: S.SOURCE_METADATA,
        3: S.SOURCE_NONE,
    }
    assert set(result.models) == {"pca"}


def test_a_lyric_part_some_lyric_songs_lack_is_imputed_from_those_that_have_it(spark):
    # song 2's words are in no other song: IDF 0 at min_doc_freq 2, so it has no tfidf or w2v
    # part (only LDA's); its artist's lyric-less song 3 must still borrow a profile (Spark's
    # Summarizer refuses a group with nothing in it)
    lyrics = [(0, [1, 2, 3], [2, 1, 1]), (1, [1, 2, 4], [1, 3, 1]), (2, [5, 6], [2, 2])]
    songs = [(0, "A", "one", True), (1, "A", "two", True), (2, "B", "three", True)]
    songs += [(3, "B", "four", False)]
    result, rows = _build(spark, lyrics, songs, 6)
    assert result.summary["parts_present"] == "tfidf,metadata,w2v,lda"
    assert rows[2][S.CONTENT_SOURCE] == S.SOURCE_LYRICS_METADATA
    assert rows[3][S.CONTENT_SOURCE] == S.SOURCE_METADATA_ARTIST
    assert all(np.linalg.norm(r[S.FEATURES]) == pytest.approx(1.0, abs=1e-5) for r in rows.values())


def test_lyrics_without_a_vocabulary_are_refused(spark):
    from recsys.errors import ContentError

    lyrics = spark.createDataFrame([(0, [1], [2])], LYRICS_DDL)
    with pytest.raises(ContentError, match="vocabulary is empty but the lyrics table has rows"):
        check_vocabulary(0, lyrics)


@pytest.mark.parametrize(
    "cold_songs, expected",
    [
        ("lyrics", {0, 1, 2, 4}),
        ("artists", {0, 1, 2, 3, 4}),
        ("all", {0, 1, 2, 3, 4, 5, 6}),
    ],
)
def test_content_songs_are_the_played_and_the_chosen_cold_ones(spark, cold_songs, expected):
    from recsys.features.vectors import content_songs

    rows = [  # song, artist, has_lyrics, n_listeners
        (0, "A", False, 3),  # played
        (1, "A", True, 1),  # played, lyrics
        (2, None, False, 2),  # played, no artist
        (3, "A", False, 0),  # unplayed, by a played artist
        (4, "B", True, 0),  # unplayed, lyrics
        (5, "B", False, 0),  # unplayed, by an artist nobody played
        (6, None, False, 0),  # unplayed, no artist
    ]
    songs = spark.createDataFrame(
        [(s, f"S{s}", None, a, f"t{s}", 1, lyr, n, n) for s, a, lyr, n in rows], S.SONGS_SCHEMA
    )
    got = content_songs(songs, cold_songs)
    assert got.columns == songs.columns
    assert {r[S.SONG] for r in got.collect()} == expected
