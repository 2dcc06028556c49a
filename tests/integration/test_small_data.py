"""The whole pipeline on the small sample data (the README's quickstart data): the hybrid must
beat popularity, ALS alone and content alone on NDCG@10 and recall@50, and the report must
show the numbers. The slowest test of the suite (a few minutes); it is the one that proves the
blend on a planted structure big enough for the comparison to mean something."""

from __future__ import annotations

import re

import pytest

import sampledata as sample_data
from recsys import schemas as S
from recsys.storage.warehouse import Warehouse
from tests.support import make_config

pytestmark = pytest.mark.integration

GATE = ("ndcg@10", "recall@50")


@pytest.fixture(scope="module")
def small_run(spark, tmp_path_factory):
    from recsys.steps import run_steps

    raw = tmp_path_factory.mktemp("small_raw")
    sample_data.generate(raw, size="small", seed=42)
    cfg = make_config(
        tmp_path_factory.mktemp("small_pipeline"),
        f"input.dir={raw}",
        # the quickstart's settings: conf/local.yaml with only the test session's sizing
        "ingest.max_bad_fraction=0.01",
        "evaluation.alpha_sweep=[]",
    )
    lines: list[str] = []
    run_steps(spark, cfg, "small", log=lines.append)
    wh = Warehouse.from_config(cfg)
    report = wh.read_json("small", S.EVALUATION_JSON)
    markdown = wh.read_text("small", S.EVALUATION_MD)
    return cfg, report, markdown, lines


def test_the_run_publishes(small_run):
    cfg, _, _, lines = small_run
    # the publish gates (quality report, hybrid beats popularity) passed and moved latest
    assert Warehouse.from_config(cfg).latest_run_id() == "small"
    from recsys.steps import STEPS

    last = f"[{len(STEPS)}/{len(STEPS)}] publish done"
    assert any(line.startswith(last) for line in lines), lines


def test_hybrid_beats_every_other_model_on_the_small_data(small_run):
    _, report, _, _ = small_run
    models = report["models"]
    assert report["held_out_users"] > 2000
    for other in ("popularity", "als", "content"):
        for key in GATE:
            assert models["hybrid"][key] > models[other][key], (other, key, models)
            # the paired difference over users is the same comparison, user by user
            paired = report["hybrid_vs"][other][key]
            assert paired["mean"] == pytest.approx(models["hybrid"][key] - models[other][key])
            assert paired["better"] > paired["worse"] or key == "recall@50"


def test_report_shows_the_numbers(small_run):
    _, report, markdown, _ = small_run
    header = next(line for line in markdown.splitlines() if line.startswith("| model |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    for model in ("popularity", "als", "content", "hybrid"):
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {model} |"))
        cells = [c.strip().strip("*") for c in row.strip("|").split("|")]
        for key in GATE:
            shown = float(cells[columns.index(key)])
            assert shown == pytest.approx(report["models"][model][key], abs=5e-5)
    assert "## Hybrid against each model" in markdown
    assert re.search(r"\| als \| \*\*\+0\.\d{4} ± 0\.\d{4}\*\*", markdown)


def test_cold_songs_reach_users_in_the_last_slots(spark, small_run):
    from pyspark.sql import functions as F

    cfg, _, _, _ = small_run
    wh = Warehouse.from_config(cfg)
    recs = wh.read_table(spark, "small", S.USER_RECOMMENDATIONS)
    songs = wh.read_table(spark, "small", S.SONGS)
    cold = recs.join(songs.filter(F.col("n_listeners") == 0).select(S.SONG), S.SONG)
    stats = cold.agg(
        F.countDistinct(S.USER).alias("users"),
        F.countDistinct(S.SONG).alias("songs"),
        F.min(S.RANK).alias("best_rank"),
    ).first()
    assert stats["users"] > 1000 and stats["songs"] > 50
    # one cold slot per user, in the last place of the list
    assert stats["best_rank"] == cfg.hybrid.top_n
    per_user = cold.groupBy(S.USER).count().agg(F.max("count")).first()[0]
    assert per_user == cfg.hybrid.cold_slots == 1
