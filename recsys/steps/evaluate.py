"""The evaluate step: every model of the run against baselines on held-out plays."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel

from recsys import schemas as S
from recsys.errors import WarehouseError
from recsys.evaluation import protocol
from recsys.steps.degradations import KEY, evaluation_degradations, nothing_held_out
from recsys.steps.fit_blend import run_blend
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Write the run's ``metrics`` table, ``evaluation.json`` and ``evaluation.md``."""
    wh = Warehouse.from_config(cfg)
    interactions = wh.read_table(spark, run_id, S.INTERACTIONS)
    songs = wh.read_table(spark, run_id, S.SONGS).persist(StorageLevel.MEMORY_AND_DISK)
    content_nbrs = wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS)
    vectors = wh.read_table(spark, run_id, S.CONTENT_VECTORS).select(S.SONG, S.FEATURES)
    catalogue = songs.count()

    hybrid_cfg, blend = run_blend(wh, run_id, cfg)
    factors, coplay, cf_nbrs = None, None, None
    if cfg.hybrid.fit.mode == "fitted":  # the fit-blend step's refits: no second one here
        factors = (
            wh.read_table(spark, run_id, S.HOLDOUT_USER_FACTORS),
            wh.read_table(spark, run_id, S.HOLDOUT_ITEM_FACTORS),
        )
        coplay = wh.read_table(spark, run_id, S.HOLDOUT_COPLAY_NEIGHBOURS)
        if wh.has_table(run_id, S.HOLDOUT_CF_NEIGHBOURS):  # runs before it was written: scored
            cf_nbrs = wh.read_table(spark, run_id, S.HOLDOUT_CF_NEIGHBOURS)
    check_split(cfg, run_id, blend)
    held = protocol.split(interactions, cfg)
    try:
        if not held.test_users.take(1):  # too few plays: stop with a message, not a traceback
            raise nothing_held_out(cfg.evaluation.min_user_songs)
        protocol.fit_models(
            held,
            songs,
            content_nbrs,
            vectors,
            cfg,
            factors=factors,
            coplay=coplay,
            cf_neighbours=cf_nbrs,
            hybrid_cfg=hybrid_cfg,
        )
        protocol.model_lists(held)
        table, paired, intervals = protocol.score(held, catalogue, vectors, cfg)
        wh.write_table(table.coalesce(1), run_id, S.METRICS)  # a few hundred rows at most
        rows = [r.asDict() for r in wh.read_table(spark, run_id, S.METRICS).collect()]
        doc = protocol.report_doc(run_id, rows, held, catalogue, paired, cfg, blend, intervals)
    finally:
        held.release()
        songs.unpersist()
    doc["created_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    doc[KEY] = evaluation_degradations(doc["models"])
    wh.write_json(run_id, S.EVALUATION_JSON, doc)
    wh.write_text(run_id, S.EVALUATION_MD, protocol.report_text(doc, rows, cfg.evaluation.map_tau))
    gate = cfg.publish.gate_metric
    return {
        "held_out_users": doc["held_out_users"],
        **{
            f"{m}_{gate}": round(doc["models"].get(m, {}).get(gate, float("nan")), 4)
            for m in protocol.MODELS
        },
    }


def check_split(cfg: Config, run_id: str, blend: dict[str, Any]) -> None:
    """With a fitted blend, the split fit-blend refitted on must be the one evaluate computes.

    Raises
    ------
    WarehouseError
        When blend.json records other split settings than this evaluation's: the refits hid
        that split's plays, so scoring another split with them would score plays they saw.
        (A blend.json without them, from before they were recorded, is not checked.)
    """
    made_with = blend.get("split")
    if cfg.hybrid.fit.mode != "fitted" or made_with is None:
        return
    wanted = protocol.split_settings(cfg)
    if made_with != wanted:
        raise WarehouseError(
            f"the fit-blend step of run {run_id!r} split the plays with {made_with}, but this "
            f"evaluation's settings (evaluation.*, hybrid.fit.*) give {wanted}: run fit-blend "
            "again with these settings (its refits hid the plays of its own split)"
        )
