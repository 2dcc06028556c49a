"""The viewer over tables the real pipeline wrote on tiny generated data."""

import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.storage.warehouse import Warehouse

pytestmark = pytest.mark.integration


def test_user_page_shows_what_the_pipeline_recommended(spark, tiny_pipeline, viewer):
    cfg, run_id, _, _ = tiny_pipeline
    wh = Warehouse.from_config(cfg)
    users = wh.read_table(spark, run_id, S.USERS)
    user = users.orderBy(F.col("n_songs").desc(), S.USER).first()
    expected = [
        r[S.SONG]
        for r in wh.read_table(spark, run_id, S.USER_RECOMMENDATIONS)
        .filter(F.col(S.USER) == user[S.USER])
        .orderBy(S.RANK)
        .collect()
    ]
    titles = {
        r[S.SONG]: r[S.TITLE] for r in wh.read_table(spark, run_id, S.SONGS).collect()
    }  # tiny: a few hundred songs
    app = viewer(cfg.warehouse.dir, user=user[S.USER_ID])
    assert not app.exception and not app.error
    shown = [d.value for d in app.dataframe if S.REASON in d.value.columns]
    assert len(shown) == 1
    assert shown[0][S.SONG].tolist() == expected
    assert titles[expected[0]] in shown[0][S.TITLE].tolist()


def test_run_page_shows_the_pipelines_evaluation(tiny_pipeline, viewer):
    cfg, _, _, _ = tiny_pipeline
    app = viewer(cfg.warehouse.dir, page="Run")
    assert not app.exception and not app.error
    assert any("hybrid" in str(d.value) for d in app.dataframe)


def test_live_reblend_at_the_runs_settings_reproduces_the_stored_list(spark, tiny_pipeline, viewer):
    # The viewer re-blends the stored candidates with the run's own rules (popularity
    # exponent, cold slots, from the manifest); untouched, the sliders give the job's list.
    cfg, run_id, _, _ = tiny_pipeline
    assert cfg.hybrid.popularity_exponent > 0 and cfg.hybrid.cold_slots > 0
    wh = Warehouse.from_config(cfg)
    recs = wh.read_table(spark, run_id, S.USER_RECOMMENDATIONS)
    songs = wh.read_table(spark, run_id, S.SONGS)
    # a user whose stored list holds a cold song (in its cold slot)
    with_cold = (
        recs.join(songs.filter(F.col("n_listeners") == 0).select(S.SONG), S.SONG)
        .select(S.USER)
        .distinct()
        .join(wh.read_table(spark, run_id, S.USERS), S.USER)
        .orderBy(S.USER)
        .first()
    )
    assert with_cold is not None
    expected = [
        r[S.SONG] for r in recs.filter(F.col(S.USER) == with_cold[S.USER]).orderBy(S.RANK).collect()
    ]
    app = viewer(cfg.warehouse.dir, user=with_cold[S.USER_ID])
    app.toggle(key="reblend").set_value(True).run()
    assert not app.exception and not app.error
    shown = [d.value for d in app.dataframe if S.REASON in d.value.columns]
    assert shown[0][S.SONG].tolist() == expected
    assert any("cold slot" in c.value for c in app.caption)
