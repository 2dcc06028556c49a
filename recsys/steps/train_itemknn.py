"""The train-itemknn step: interactions -> coplay_neighbours, itemknn_params.json.

The item-based model is its neighbour lists (recsys.models.itemknn): each song's top
``itemknn.k`` co-played songs by the asymmetric cosine with the locality exponent. The hybrid
scores users from them, and its ``similar_songs`` table shows them ("listeners of X also
played").
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.models.itemknn import ItemKNNRecommender
from recsys.steps.degradations import KEY, count
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Fit the co-play neighbours on the run's interactions and write them."""
    wh = Warehouse.from_config(cfg)
    interactions = wh.read_table(spark, run_id, S.INTERACTIONS).select(S.USER, S.SONG, S.PLAYS)
    started = time.perf_counter()
    model = ItemKNNRecommender(cfg.itemknn).fit(interactions)
    try:
        wh.write_table(model.similar_items(cfg.itemknn.k), run_id, S.COPLAY_NEIGHBOURS)
    finally:
        model.release()
    seconds = time.perf_counter() - started
    written = wh.read_table(spark, run_id, S.COPLAY_NEIGHBOURS)
    stats = written.agg(
        F.count(F.lit(1)).alias("rows"), F.countDistinct(S.SONG).alias("songs")
    ).first()
    played = interactions.select(S.SONG).distinct().count()
    summary: dict[str, Any] = {
        "neighbour_rows": int(stats["rows"]),
        "songs_with_neighbours": int(stats["songs"]),
        "played_songs": played,
        "fit_s": round(seconds, 1),
    }
    summary[KEY] = itemknn_degradations(summary)
    wh.write_json(run_id, S.ITEMKNN_PARAMS, {"params": dataclasses.asdict(cfg.itemknn), **summary})
    return summary


def itemknn_degradations(summary: dict[str, Any]) -> list[str]:
    """No co-plays at all (every listener played one song): the model has nothing to say."""
    if summary["neighbour_rows"]:
        return []
    return [
        "itemknn: no two songs share a listener (of "
        f"{count(summary['played_songs'], 'played song')}), so the item-based model has no "
        "neighbours and adds nothing to the hybrid"
    ]
