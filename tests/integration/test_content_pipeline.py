"""ingest -> content -> neighbours of the tiny pipeline: the planted genres show."""

from __future__ import annotations

import pandas as pd
import pytest
from pyspark.ml.clustering import LocalLDAModel
from pyspark.ml.feature import IDFModel, PCAModel, Word2VecModel
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.storage.warehouse import Warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipeline(spark, tiny_pipeline, tiny_raw):
    """(cfg, warehouse, run id, step summaries, planted genre by song_idx) of the tiny run."""
    cfg, run_id, summaries, _ = tiny_pipeline
    raw, _ = tiny_raw
    wh = Warehouse.from_config(cfg)
    songs = wh.read_table(spark, run_id, S.SONGS).select(S.SONG, S.SONG_ID).toPandas()
    genres = songs.merge(pd.read_csv(raw / "_planted" / "songs.csv"), on=S.SONG_ID)
    return cfg, wh, run_id, summaries, genres.set_index(S.SONG)["genre"]


def test_tables_have_their_schemas(spark, pipeline):
    cfg, wh, run, summaries, _ = pipeline
    for table, schema in [
        (S.CONTENT_VECTORS, S.CONTENT_VECTORS_SCHEMA),
        (S.LDA_TOPICS, S.LDA_TOPICS_SCHEMA),
        (S.CONTENT_NEIGHBOURS, S.NEIGHBOURS_SCHEMA),
    ]:
        got = wh.read_table(spark, run, table).schema
        simple = [(f.name, f.dataType.simpleString()) for f in schema]
        assert [(f.name, f.dataType.simpleString()) for f in got] == simple
    vectors = wh.read_table(spark, run, S.CONTENT_VECTORS)
    assert vectors.count() == wh.read_table(spark, run, S.SONGS).count()
    assert vectors.where(F.size(S.FEATURES) != cfg.content.dim).count() == 0
    topics = wh.read_table(spark, run, S.LDA_TOPICS)
    assert topics.count() == cfg.content.lda_k * cfg.content.lda_top_words
    assert summaries["content"]["songs"] == vectors.count()


def test_fitted_models_are_saved_and_load_back(pipeline):
    cfg, wh, run, _, _ = pipeline

    def path(name: str) -> str:
        return wh.spark_path(wh.model_uri(run, name))

    assert PCAModel.load(path("pca")).getK() == cfg.content.dim
    lda = LocalLDAModel.load(path("lda"))
    assert lda.getK() == cfg.content.lda_k
    assert lda.vocabSize() == len(IDFModel.load(path("idf")).idf)
    w2v = Word2VecModel.load(path("w2v"))
    assert w2v.getVectorSize() == cfg.content.w2v_vector_size
    assert w2v.getVectors().count() > 0


def test_content_neighbours_are_mostly_in_the_songs_genre(spark, pipeline):
    _, wh, run, _, genres = pipeline
    nbrs = wh.read_table(spark, run, S.CONTENT_NEIGHBOURS).toPandas()
    sources = (
        wh.read_table(spark, run, S.CONTENT_VECTORS)
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
    cfg, wh, run, summaries, _ = pipeline
    doc = wh.read_json(run, S.LSH_RECALL)
    assert doc["method"] == "lsh" and doc["measured"] is True
    assert doc["songs"] == cfg.neighbours.recall_sample and doc["k"] == cfg.neighbours.k
    assert doc["recall"] >= 0.8
    # the step's summary rounds the recall to four places
    assert summaries["neighbours"][f"recall@{cfg.neighbours.k}"] == round(doc["recall"], 4)


def test_auto_takes_the_exact_search_below_the_crossover(spark, tiny_pipeline_copy):
    from recsys.steps import neighbours as step

    cfg, run_id = tiny_pipeline_copy
    auto = cfg.replace("neighbours.method=auto")
    summary = step.run(spark, auto, run_id)
    doc = Warehouse.from_config(auto).read_json(run_id, S.LSH_RECALL)
    assert summary["method"] == doc["method"] == "exact"
    assert doc["configured_method"] == "auto"
    assert doc["songs_with_vectors"] < auto.neighbours.auto_exact_below
    assert doc["recall"] == 1.0
