"""A small but realistic published warehouse for the viewer's tests.

TODO(viewer): once the hybrid, evaluate and publish steps are on main, build the warehouse
with ``sampledata.generate(..., size="tiny")`` and ``recsys.steps.run_steps`` over
all STEPS instead of the hand-made tables below (the viewer's tests only read the tables).

The tables follow recsys.schemas exactly and are written with Spark through
``Warehouse.write_table`` (so they carry Spark's Parquet layout and ``_SUCCESS`` markers).
The hybrid tables obey the blend contract: ``user_candidates`` is every candidate ranked by
``recsys.blend.rerank`` with each user's stored alpha, ``user_recommendations`` its top N.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import schemas
from recsys.models.blend import alpha_for_plays, rerank
from recsys.storage.warehouse import Warehouse

OLD_RUN = "2026-11-23"
LATEST_RUN = "2026-11-24"
TOP_N = 5
OLD_RUN_TABLES = (
    schemas.USERS,
    schemas.SONGS,
    schemas.INTERACTIONS,
    schemas.USER_RECOMMENDATIONS,
)
ALPHA_CURVE = [[1, 0.2], [5, 0.5], [20, 0.7]]

ARTISTS_TITLES = [
    ("The Beatles", "Let It Be"),
    ("The Beatles", "Yesterday"),
    ("The Beatles", "Hey Jude"),
    ("Radiohead", "Karma Police"),
    ("Radiohead", "No Surprises"),
    ("Radiohead", "Paranoid Android"),
    ("Miles Davis", "So What"),
    ("Miles Davis", "Blue in Green"),
    ("Daft Punk", "One More Time"),
    ("Daft Punk", "Digital Love"),
    ("Björk", "Jóga"),
    ("Nina Simone", "Feeling Good"),
    ("Kraftwerk", "Computer Love"),
    ("Portishead", "Glory Box"),
    (None, "Untitled Field Recording"),
    ("Aphex Twin", "Avril 14th"),
]
COLD_SONG = 15  # no listener: only content neighbours


def _user_id(i: int) -> str:
    return f"{((i + 1) * 2654435761) % 16**10:010x}" * 4  # 40 hex characters like the Taste Profile


def _frames(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_songs, n_users = len(ARTISTS_TITLES), 6
    plays_by_user = {}
    for user in range(n_users):
        played = rng.choice(COLD_SONG, size=2 + user % 4, replace=False)
        plays_by_user[user] = {int(s): int(rng.integers(1, 40)) for s in played}
    interactions = pd.DataFrame(
        [(u, s, p) for u, songs in plays_by_user.items() for s, p in songs.items()],
        columns=[schemas.USER, schemas.SONG, schemas.PLAYS],
    ).astype({schemas.USER: "int32", schemas.SONG: "int32", schemas.PLAYS: "int32"})

    per_song = interactions.groupby(schemas.SONG)[schemas.PLAYS].agg(["count", "sum"])
    songs = pd.DataFrame(
        {
            schemas.SONG: np.arange(n_songs, dtype=np.int32),
            schemas.SONG_ID: [f"SO{i:016X}" for i in range(n_songs)],
            schemas.TRACK_ID: [f"TR{i:016X}" for i in range(n_songs)],
            schemas.ARTIST: [a for a, _ in ARTISTS_TITLES],
            schemas.TITLE: [t for _, t in ARTISTS_TITLES],
            "n_tracks": np.ones(n_songs, dtype=np.int32),
            "has_lyrics": [i % 3 != 0 for i in range(n_songs)],
            "n_listeners": per_song["count"]
            .reindex(range(n_songs), fill_value=0)
            .to_numpy("int32"),
            "n_plays": per_song["sum"].reindex(range(n_songs), fill_value=0).to_numpy("int64"),
        }
    )
    users = pd.DataFrame(
        {
            schemas.USER: np.arange(n_users, dtype=np.int32),
            schemas.USER_ID: [_user_id(u) for u in range(n_users)],
            "n_songs": [len(plays_by_user[u]) for u in range(n_users)],
            "n_plays": [sum(plays_by_user[u].values()) for u in range(n_users)],
        }
    ).astype({"n_songs": "int32", "n_plays": "int64"})

    popularity = songs["n_plays"].rank(pct=True, method="max").to_numpy()
    rows = []
    for user, played in plays_by_user.items():
        alpha = alpha_for_plays(len(played), ALPHA_CURVE, 0.7)
        favourite = max(played, key=played.get)
        for song in range(n_songs):
            if song in played:
                continue
            rows.append(
                {
                    schemas.USER: user,
                    schemas.RANK: 0,
                    schemas.SONG: song,
                    schemas.SCORE: 0.0,
                    schemas.CF_SCORE: 0.0 if song == COLD_SONG else round(rng.random(), 3),
                    schemas.CONTENT_SCORE: round(rng.random(), 3),
                    # from the ids, not the generator: the other columns stay as they were
                    schemas.ITEM_SCORE: ((user * 7 + song) % 11) / 10,
                    schemas.POPULARITY: popularity[song],
                    schemas.ALPHA: alpha,
                    schemas.ARTIST: ARTISTS_TITLES[song][0],
                    schemas.REASON_SONG: favourite,
                    schemas.REASON: f"because you played {ARTISTS_TITLES[favourite][1]}",
                }
            )
    raw = pd.DataFrame(rows).astype(
        {
            schemas.USER: "int32",
            schemas.SONG: "int32",
            schemas.CF_SCORE: "float32",
            schemas.CONTENT_SCORE: "float32",
            schemas.ITEM_SCORE: "float32",
            schemas.POPULARITY: "float32",
            schemas.ALPHA: "float32",
            schemas.REASON_SONG: "int32",
        }
    )
    candidates = rerank(raw, alpha=None, novelty=0.0, max_per_artist=0, top_n=len(raw))
    recommendations = candidates[candidates[schemas.RANK] <= TOP_N]

    similar = []
    for song in range(n_songs):
        others = rng.choice([s for s in range(n_songs) if s != song], size=4, replace=False)
        neighbours = []
        for j, other in enumerate(others):
            # "both" is how runs before the item-based model wrote cf + content
            kinds = ("cf", "content", "both", "cf+coplay")
            source = "content" if song == COLD_SONG else kinds[(song + j) % 4]
            cf = 0.0 if source == "content" else round(float(rng.uniform(0.3, 1.0)), 3)
            content = (
                0.0 if source in ("cf", "cf+coplay") else round(float(rng.uniform(0.3, 1.0)), 3)
            )
            neighbours.append((0.5 * cf + 0.5 * content, int(other), cf, content, source))
        neighbours.sort(key=lambda n: (-n[0], n[1]))
        for rank, (score, other, cf, content, source) in enumerate(neighbours, 1):
            similar.append((song, rank, other, score, cf, content, source, song == COLD_SONG))
    similar_songs = pd.DataFrame(
        similar,
        columns=[
            schemas.SONG,
            schemas.RANK,
            schemas.SIMILAR,
            schemas.SCORE,
            schemas.CF_SCORE,
            schemas.CONTENT_SCORE,
            schemas.SOURCE,
            schemas.IS_COLD,
        ],
    ).astype({schemas.SONG: "int32", schemas.RANK: "int32", schemas.SIMILAR: "int32"})

    metric_rows = []
    for m, model in enumerate(("popularity", "als", "content", "hybrid")):
        for metric in ("precision", "recall", "ndcg"):
            for k in (10, 50):
                metric_rows.append((model, metric, k, round(0.05 + 0.04 * m + k / 1000, 4), None))
    for alpha in (0.0, 0.25, 0.5, 0.75, 1.0):
        metric_rows.append(("hybrid", "ndcg", 10, round(0.1 + 0.2 * alpha * (1 - alpha), 4), alpha))
    metrics = pd.DataFrame(metric_rows, columns=["model", "metric", "k", "value", schemas.ALPHA])
    return {
        schemas.USERS: users,
        schemas.SONGS: songs,
        schemas.INTERACTIONS: interactions,
        schemas.USER_CANDIDATES: candidates,
        schemas.USER_RECOMMENDATIONS: recommendations,
        schemas.SIMILAR_SONGS: similar_songs,
        schemas.METRICS: metrics,
    }


SPARK_SCHEMAS = {
    schemas.USERS: schemas.USERS_SCHEMA,
    schemas.SONGS: schemas.SONGS_SCHEMA,
    schemas.INTERACTIONS: schemas.INTERACTIONS_SCHEMA,
    schemas.USER_CANDIDATES: schemas.RECOMMENDATIONS_SCHEMA,
    schemas.USER_RECOMMENDATIONS: schemas.RECOMMENDATIONS_SCHEMA,
    schemas.SIMILAR_SONGS: schemas.SIMILAR_SONGS_SCHEMA,
    schemas.METRICS: schemas.METRICS_SCHEMA,
}


def _documents(run_id: str, frames: dict[str, pd.DataFrame]) -> dict[str, dict]:
    return {
        schemas.MANIFEST: {
            "run_id": run_id,
            "created_at": f"{run_id}T03:12:00Z",
            "git_commit": "0123abc",
            "tables": {name: len(frame) for name, frame in frames.items()},
            "config": {
                "hybrid": {
                    "top_n": TOP_N,
                    "alpha": 0.7,
                    "alpha_curve": ALPHA_CURVE,
                    "max_per_artist": 0,
                    "novelty": 0.0,
                }
            },
            "gates": {"ndcg@10": "passed", "beats_popularity": True},
        },
        schemas.QUALITY_REPORT: {
            "triplets": {"rows_in": 1040, "rows_out": 1000, "quarantined": 40},
            "quarantined_by_reason": {
                "bad_play_count": 12,
                "empty_id": 3,
                "song_in_mismatch_list": 25,
            },
            "bad_fraction": 0.0144,
        },
        schemas.EVALUATION_JSON: {
            "holdout_users": 120,
            "ks": [10, 50],
            "best_alpha": 0.5,
            "models": {"hybrid": {"ndcg@10": 0.18}, "als": {"ndcg@10": 0.14}},
        },
    }


def write_demo_warehouse(spark, root: str, seed: int = 7) -> dict[str, dict[str, pd.DataFrame]]:
    """Write two runs (an older, partial one and the latest) and point ``latest`` at the newer.

    Returns the pandas frames written for each run, for the tests' expectations.
    """
    warehouse = Warehouse(root)
    written = {}
    for offset, run_id in enumerate((OLD_RUN, LATEST_RUN)):
        frames = _frames(seed + offset)
        if run_id == OLD_RUN:  # an older run without the optional tables (and faster to write)
            frames = {name: frames[name] for name in OLD_RUN_TABLES}
        for name, frame in frames.items():
            df = spark.createDataFrame(frame, SPARK_SCHEMAS[name]).coalesce(1)
            warehouse.write_table(df, run_id, name)
        for name, doc in _documents(run_id, frames).items():
            warehouse.write_json(run_id, name, doc)
        written[run_id] = frames
    warehouse.set_latest(LATEST_RUN)
    return written


# ----------------------------------------------------------------------------- run history
# Beside the demo's two runs: a refused night and one that stopped after train-als.
REFUSED_RUN = "2026-11-25"
STOPPED_RUN = "2026-11-26"
HISTORY_ORDER = [STOPPED_RUN, REFUSED_RUN, LATEST_RUN, OLD_RUN]  # newest first
REFUSAL = "hybrid ndcg@10 0.0900 <= popularity 0.1000"


def _steps(seconds: dict[str, float]) -> list[dict]:
    return [
        {"step": name, "seconds": s, "spark": {"available": True, "shuffle_write_bytes": int(s)}}
        for name, s in seconds.items()
    ]


def _quality(lines: int, quarantined: int, users: int, songs: int) -> dict:
    return {
        "passed": True,
        "inputs": {"triplets": {"lines": lines, "quarantined": {"bad_play_count": quarantined}}},
        "tables": {schemas.USERS: users, schemas.SONGS: songs},
    }


def _comparison(previous: str, churn: float, first: float) -> dict:
    return {
        "previous_run": previous,
        "k": 10,
        "users_compared": 6,
        "users_new": 1,
        "users_gone": 0,
        "top_k_jaccard_mean": 1 - churn,
        "top_k_churn": churn,
        "first_pick_changed_share": first,
        "listed_songs": {"previous": 12, "current": 13},
        "coverage": {"previous": 0.75, "current": 0.8125},
        "songs_entered": 2,
        "songs_left": 1,
        "metrics": [
            {
                "model": "hybrid",
                "metric": "ndcg@10",
                "previous": 0.16,
                "current": 0.18,
                "delta": 0.02,
            }
        ],
    }


HISTORY = {
    # run id: (manifest fields, quality report, step seconds)
    OLD_RUN: (
        {"published": True, "metrics": {"hybrid": {"ndcg@10": 0.16}, "als": {"ndcg@10": 0.13}}},
        _quality(1000, 10, 6, 16),
        {"ingest": 30.0, "train-als": 60.0, "hybrid": 20.0},
    ),
    LATEST_RUN: (
        {
            "published": True,
            "metrics": {"hybrid": {"ndcg@10": 0.18}, "als": {"ndcg@10": 0.14}},
            "comparison": _comparison(OLD_RUN, 0.25, 0.5),
        },
        _quality(1040, 40, 6, 16),
        {"ingest": 32.0, "train-als": 61.0, "hybrid": 22.0},
    ),
    REFUSED_RUN: (
        {
            "published": False,
            "metrics": {"hybrid": {"ndcg@10": 0.09}, "popularity": {"ndcg@10": 0.10}},
            "gates": [
                {"name": "tables_complete", "passed": True, "detail": "all tables complete"},
                {"name": "beats_popularity", "passed": False, "detail": REFUSAL},
            ],
            "comparison": _comparison(LATEST_RUN, 0.6, 0.8),
        },
        _quality(1100, 11, 7, 16),
        {"ingest": 35.0, "train-als": 70.0, "hybrid": 25.0},
    ),
}


def add_history(root: str) -> None:
    """Give a copy of the demo warehouse a history: the demo's runs get steps, metrics and
    a comparison; a refused run (documents only) and a run that stopped after train-als
    (its step records and quality report, no manifest) join them."""
    warehouse = Warehouse(root)
    for day, (run_id, (fields, quality, seconds)) in enumerate(HISTORY.items()):
        try:
            manifest = warehouse.read_json(run_id, schemas.MANIFEST)
        except Exception:  # noqa: BLE001 - the refused run has none yet
            manifest = {"run_id": run_id, "config": {}}
        manifest.update(fields, created_at=f"2026-11-{23 + day}T03:12:00+00:00")
        manifest["steps"] = _steps(seconds)
        manifest["config"] = {**manifest.get("config", {}), "publish": {"gate_metric": "ndcg@10"}}
        warehouse.write_json(run_id, schemas.MANIFEST, manifest)
        warehouse.write_json(run_id, schemas.QUALITY_REPORT, quality)
    warehouse.write_json(STOPPED_RUN, schemas.QUALITY_REPORT, _quality(1200, 0, 8, 17))
    for step in _steps({"ingest": 40.0, "train-als": 80.0}):
        warehouse.write_json(STOPPED_RUN, f"step-{step['step']}.json", step)
