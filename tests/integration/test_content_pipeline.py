"""ingest -> content -> neighbours on tiny generated data: the planted genres show."""

from __future__ import annotations

import pandas as pd
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.steps import run_steps
from recsys.storage.warehouse import Warehouse
from tests.support import make_config

pytestmark = pytest.mark.integration
RUN = "content-tiny"


@pytest.fixture(scope="module")
def pipeline(spark, tiny_raw, tmp_path_factory):
    raw, planted = tiny_raw
    cfg = make_config(
        tmp_path_factory.mktemp("content_pipeline"),
        f"input.dir={raw}",
        "ingest.max_bad_fraction=0.05",
        "content.lda_max_iter=10",
        "content.projection_dim=64",
        "content.dim=32",
        "neighbours.k=10",
        "neighbours.recall_sample=100",
    )
    summaries = run_steps(spark, cfg, RUN, ["ingest", "content", "neighbours"], log=lambda _: None)
    wh = Warehouse.from_config(cfg)
    songs = wh.read_table(spark, RUN, S.SONGS).select(S.SONG, S.SONG_ID).toPandas()
    genres = songs.merge(pd.read_csv(raw / "_planted" / "songs.csv"), on=S.SONG_ID)
    return cfg, wh, summaries, genres.set_index(S.SONG)["genre"]


def test_tables_have_their_schemas(spark, pipeline):
    cfg, wh, summaries, genres = pipeline
    for table, schema in [
        (S.CONTENT_VECTORS, S.CONTENT_VECTORS_SCHEMA),
        (S.LDA_TOPICS, S.LDA_TOPICS_SCHEMA),
        (S.CONTENT_NEIGHBOURS, S.NEIGHBOURS_SCHEMA),
    ]:
        got = wh.read_table(spark, RUN, table).schema
        simple = [(f.name, f.dataType.simpleString()) for f in schema]
        assert [(f.name, f.dataType.simpleString()) for f in got] == simple
    vectors = wh.read_table(spark, RUN, S.CONTENT_VECTORS)
    assert vectors.count() == wh.read_table(spark, RUN, S.SONGS).count()
    assert vectors.where(F.size(S.FEATURES) != cfg.content.dim).count() == 0
    topics = wh.read_table(spark, RUN, S.LDA_TOPICS)
    assert topics.count() == cfg.content.lda_k * cfg.content.lda_top_words
    assert summaries["content"]["songs"] == vectors.count()


def test_content_neighbours_are_mostly_in_the_songs_genre(spark, pipeline):
    _, wh, _, genres = pipeline
    nbrs = wh.read_table(spark, RUN, S.CONTENT_NEIGHBOURS).toPandas()
    sources = (
        wh.read_table(spark, RUN, S.CONTENT_VECTORS)
        .select(S.SONG, S.CONTENT_SOURCE)
        .toPandas()
        .set_index(S.SONG)[S.CONTENT_SOURCE]
    )
    nbrs["same"] = nbrs[S.SONG].map(genres).to_numpy() == nbrs[S.NEIGHBOUR].map(genres).to_numpy()
    nbrs["source"] = nbrs[S.SONG].map(sources)
    chance = float((genres.value_counts(normalize=True) ** 2).sum())
    with_lyrics = nbrs[nbrs["source"] == S.SOURCE_LYRICS_METADATA]["same"].mean()
    borrowed = nbrs[nbrs["source"] == S.SOURCE_METADATA_ARTIST]
    assert with_lyrics >= max(0.8, 2.5 * chance), (with_lyrics, chance)
    # songs without lyrics, through their artist's lyric profile and their metadata
    assert len(borrowed) > 0
    assert borrowed["same"].mean() >= max(0.6, 2 * chance), (borrowed["same"].mean(), chance)


def test_recall_is_measured_and_written(pipeline):
    cfg, wh, summaries, _ = pipeline
    doc = wh.read_json(RUN, S.LSH_RECALL)
    assert doc["method"] == "lsh" and doc["measured"] is True
    assert doc["songs"] == cfg.neighbours.recall_sample and doc["k"] == cfg.neighbours.k
    assert doc["recall"] >= 0.8
    assert summaries["neighbours"][f"recall@{cfg.neighbours.k}"] == pytest.approx(doc["recall"])
