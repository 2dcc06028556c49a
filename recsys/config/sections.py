"""The pipeline's config sections: Spark, inputs, storage and one per step.

Every field says its default, bounds and allowed values (:func:`~recsys.config.validate.spec`);
a section whose fields constrain each other checks them in ``check(key)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from recsys.config.validate import spec
from recsys.errors import ConfigError


@dataclass(frozen=True)
class SparkConfig:
    app_name: str = spec("recsys")
    master: Optional[str] = spec(None, doc="local[N] for local runs; unset on EMR")
    shuffle_partitions: int = spec(200, min=1)
    driver_memory: Optional[str] = spec(None)
    executor_memory: Optional[str] = spec(None)
    checkpoint_dir: Optional[str] = spec(None, doc="default: <warehouse.dir>/_checkpoints")
    kryo: bool = spec(True)
    log_level: str = spec("WARN", choices=("ALL", "DEBUG", "INFO", "WARN", "ERROR", "OFF"))
    vector_api: bool = spec(
        True,
        doc="JDK 17's vector API for Spark ML's BLAS without a native one "
        "(--add-modules=jdk.incubator.vector; recsys.session)",
    )
    extra: dict = spec(factory=dict, doc="any further spark.* settings")


@dataclass(frozen=True)
class InputConfig:
    dir: str = spec(
        "data/sample",
        doc="local folder or s3:// prefix of the raw files; may name the run's date, e.g. "
        "s3://bucket/raw/{date}/ ({date}, {yyyymmdd}, {run_id}: recsys.rundate)",
    )
    triplets: str = spec("train_triplets.txt", doc="file name or glob; .gz also read")
    tracks: str = spec("unique_tracks.txt")
    mismatches: str = spec("sid_mismatches.txt")
    lyrics: str = spec("mxm_dataset_*.txt")

    def check(self, key: str) -> None:
        from recsys.rundate import placeholders

        placeholders(self.dir, f"{key}.dir")

    def dir_for(self, run_id: str) -> str:
        """``dir`` with the run's date filled in (:func:`recsys.rundate.input_dir`)."""
        from recsys.rundate import input_dir

        return input_dir(self.dir, run_id, "input.dir")


@dataclass(frozen=True)
class RetentionConfig:
    keep: int = spec(14, min=1, doc="recsys runs prune keeps the newest this many runs ...")
    min_age_days: int = spec(7, min=0, doc="... and every run younger than this ...")
    in_progress_hours: int = spec(
        24, min=1, doc="... and every run written to within this many hours (in progress)"
    )
    prune_after_publish: bool = spec(
        False, doc="publish prunes by this policy after moving latest (the nightly run)"
    )


@dataclass(frozen=True)
class WarehouseConfig:
    dir: str = spec("warehouse", doc="local folder or s3:// prefix for runs/<run_id>/")
    retention: RetentionConfig = spec(factory=RetentionConfig)


@dataclass(frozen=True)
class StorageConfig:
    s3_endpoint: Optional[str] = spec(None, doc="custom S3 endpoint (tests); unset for AWS")
    spark_s3_scheme: str = spec("s3", choices=("s3", "s3a"), doc="s3 on EMR, s3a elsewhere")


@dataclass(frozen=True)
class IngestConfig:
    max_bad_fraction: float = spec(0.01, min=0.0, max=1.0, doc="malformed lines / all lines")
    max_play_count: int = spec(100_000, min=1, max=2**31 - 1, doc="plays above are quarantined")


STORAGE_LEVELS = (
    "MEMORY_AND_DISK",
    "MEMORY_AND_DISK_SER",
    "MEMORY_ONLY",
    "MEMORY_ONLY_SER",
    "DISK_ONLY",
    "NONE",
)


@dataclass(frozen=True)
class TuningConfig:
    enabled: bool = spec(False)
    ranks: list[int] = spec(factory=lambda: [16, 32])
    reg_params: list[float] = spec(factory=lambda: [0.01, 0.1])
    alphas: list[float] = spec(factory=lambda: [1.0, 10.0])
    validation_user_fraction: float = spec(0.2, min=0.0, max=1.0)
    holdout_play_fraction: float = spec(
        0.3, min=0.0, max=1.0, doc="share of a validation user's songs held out (at least 1)"
    )
    k: int = spec(10, min=1)

    def check(self, key: str) -> None:
        """Each grid is a non-empty list of values at or above its minimum."""
        for name, lowest in (("ranks", 1), ("reg_params", 0.0), ("alphas", 0.0)):
            values = getattr(self, name)
            if not values:
                raise ConfigError(f"{key}.{name}: expected a non-empty list of numbers")
            for i, v in enumerate(values):
                if v < lowest:
                    raise ConfigError(f"{key}.{name}[{i}]: {v!r} is below the minimum {lowest}")


@dataclass(frozen=True)
class AlsConfig:
    rank: int = spec(32, min=1, max=1024)
    reg_param: float = spec(0.1, min=0.0)
    alpha: float = spec(10.0, min=0.0)
    max_iter: int = spec(10, min=1)
    confidence: str = spec("log", choices=("raw", "log", "binary"))
    solver: str = spec(
        "blocks",
        choices=("blocks", "spark"),
        doc="blocks: numpy solves per chunk of users/songs (recsys.models.block_als); "
        "spark: Spark ML's ALS",
    )
    one_task_max_ratings: int = spec(
        8_000_000,
        min=0,
        max=2_000_000_000,  # Spark's limit() takes an int
        doc="solver blocks: a fit with at most this many ratings, divided by the executors, "
        "runs in one task on the cores of one executor, all its iterations in one Spark job "
        "(with one executor more tasks add jobs, not cores); 0: never",
    )
    one_task_threads: int = spec(
        0,
        min=0,
        doc="solver blocks: threads of the one-task fit (the job has no other task); "
        "0: the cores of one executor (local[N]: N, else spark.executor.cores)",
    )
    log_eps: float = spec(1.0, min=1e-9)
    num_user_blocks: int = spec(4, min=1)
    num_item_blocks: int = spec(4, min=1)
    checkpoint_interval: int = spec(5, min=-1, doc="solver spark only (blocks keeps no lineage)")
    seed: int = spec(42)
    top_n: int = spec(50, min=1, doc="candidates per user written to cf_user_topn")
    neighbours_k: int = spec(20, min=1)
    neighbours_method: str = spec("exact", choices=("exact", "lsh"))
    block_size: int = spec(4096, min=16, doc="users per numpy scoring block")
    block_memory_mb: int = spec(
        256, min=1, doc="cap on one block's score matrix; shrinks block_size for big catalogues"
    )
    score_partitions: int = spec(
        0, min=0, doc="tasks scoring top-N and neighbours; 0 = twice the default parallelism"
    )
    intermediate_storage_level: str = spec(
        "MEMORY_AND_DISK",
        choices=STORAGE_LEVELS[:-1],
        doc="ALS's per-iteration blocks (blocks: the packed ratings)",
    )
    final_storage_level: str = spec(
        "MEMORY_AND_DISK", choices=STORAGE_LEVELS, doc="ALS's returned factor RDDs"
    )
    lsh_bucket_length: float = spec(0.2, min=1e-6, doc="neighbours_method=lsh only")
    lsh_num_hash_tables: int = spec(3, min=1)
    lsh_hashes_per_table: int = spec(1, min=1, doc="BRP hashes AND-ed into one bucket key")
    lsh_max_candidates: int = spec(200, min=2, doc="cap on songs per bucket chunk")
    lsh_min_similarity: float = spec(0.0, min=-1.0, max=1.0, doc="cosine floor")
    tuning: TuningConfig = spec(factory=TuningConfig)


@dataclass(frozen=True)
class ItemKnnConfig:
    k: int = spec(50, min=1, max=1000, doc="co-play neighbours kept per song (and summed)")
    asymmetry: float = spec(
        0.85, min=0.0, max=1.0, doc="a in c_ij / (n_i^a n_j^(1-a)), i played; 0.5 is the cosine"
    )
    locality: float = spec(3.0, min=0.0, doc="q: similarities raised to this power")
    max_songs_per_user: int = spec(
        500, min=0, doc="seeded sample of each user's songs making pairs; 0 = no cap"
    )
    seed: int = spec(42)
    song_blocks: int = spec(
        16,
        min=1,
        doc="co-play counting tasks (songs by song_idx mod this); each holds the lists "
        "of the users who played one of its songs",
    )
    block_size: int = spec(1024, min=1, doc="users per sparse scoring block")
    score_partitions: int = spec(
        0, min=0, doc="tasks scoring users; 0 = twice the default parallelism"
    )


@dataclass(frozen=True)
class ContentConfig:
    cold_songs: str = spec(
        "all",
        choices=("lyrics", "artists", "all"),
        doc="the songs nobody played that get a content vector (and so can fill cold slots): "
        "lyrics = those with lyrics; artists = also those by an artist someone played; all = "
        "every catalogue song. Played songs always get one",
    )
    min_doc_freq: int = spec(2, min=0, doc="terms in fewer songs get IDF 0 (lyrics and metadata)")
    w2v_vector_size: int = spec(32, min=2)
    w2v_min_count: int = spec(3, min=0)
    w2v_max_iter: int = spec(1, min=1)
    w2v_max_sentence_length: int = spec(1000, min=10, doc="lyric words per song sentence")
    w2v_num_partitions: int = spec(1, min=1, doc="Word2Vec training partitions")
    w2v_window_size: int = spec(5, min=1)
    lda_k: int = spec(16, min=2)
    lda_max_iter: int = spec(20, min=1)
    lda_subsampling_rate: float = spec(
        0.05, min=1e-6, max=1.0, doc="share of songs per online LDA mini-batch"
    )
    lda_top_words: int = spec(10, min=1)
    projection_dim: int = spec(
        128, min=2, doc="random-projection size of each sparse TF-IDF part before PCA"
    )
    weight_tfidf: float = spec(1.0, min=0.0)
    weight_w2v: float = spec(1.0, min=0.0)
    weight_lda: float = spec(1.0, min=0.0)
    weight_metadata: float = spec(0.5, min=0.0)
    dim: int = spec(64, min=2, doc="dimension of the combined content vector")
    seed: int = spec(42)

    def check(self, key: str) -> None:
        """``dim`` fits in the columns the weighted parts give before PCA."""
        combined = (
            (self.projection_dim if self.weight_tfidf > 0 else 0)
            + (self.projection_dim if self.weight_metadata > 0 else 0)
            + (self.w2v_vector_size if self.weight_w2v > 0 else 0)
            + (self.lda_k if self.weight_lda > 0 else 0)
        )
        if self.dim > combined:
            raise ConfigError(
                f"{key}.dim: {self.dim} is larger than the {combined} columns the weighted parts "
                "give (projection_dim per TF-IDF part, w2v_vector_size, lda_k); lower content.dim"
            )


@dataclass(frozen=True)
class NeighboursConfig:
    k: int = spec(20, min=1)
    method: str = spec(
        "auto",
        choices=("auto", "lsh", "exact"),
        doc="auto: exact below auto_exact_below songs with a content vector, else lsh",
    )
    auto_exact_below: int = spec(
        300_000, min=0, doc="method=auto: the crossover (bench/README.md, LSH against exact)"
    )
    bucket_length: float = spec(0.15, min=1e-6)
    num_hash_tables: int = spec(24, min=1)
    hashes_per_table: int = spec(3, min=1, doc="BRP hashes AND-ed into one bucket key")
    max_candidates: int = spec(300, min=2, doc="cap on songs per bucket chunk, so per song")
    min_similarity: float = spec(
        0.0, min=-1.0, max=1.0, doc="cosine floor; distance threshold sqrt(2 - 2 * floor)"
    )
    recall_sample: int = spec(200, min=0, doc="songs checked against exact top K")
    block_size: int = spec(4096, min=1, doc="exact search: query songs per numpy block ...")
    block_memory_mb: int = spec(256, min=1, doc="... capped so a block's scores stay this small")
    seed: int = spec(42)

    def method_for(self, songs: int) -> str:
        """The search ``method`` names, or for ``auto`` the one ``songs`` vectors call for."""
        if self.method != "auto":
            return self.method
        return "exact" if songs < self.auto_exact_below else "lsh"


@dataclass(frozen=True)
class BlendFitConfig:
    mode: str = spec(
        "fitted",
        choices=("fitted", "fixed"),
        doc="fitted: each run chooses alpha, the popularity exponent (and an alpha curve where "
        "it pays) on a validation split; fixed: hybrid.alpha etc. as configured",
    )
    alphas: list = spec(factory=lambda: [0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
    popularity_exponents: list = spec(factory=lambda: [0.0, 1.0, 2.0])
    item_weights: list = spec(
        factory=lambda: [0.0, 0.25, 0.5, 0.75],
        doc="item-based shares of the collaborative score tried (first stage, at alpha 1)",
    )
    popularity_weights: list = spec(
        factory=lambda: [0.0, 0.15, 0.3, 0.45],
        doc="popularity shares of the collaborative score tried with each item weight "
        "(pairs summing above 1 are skipped)",
    )
    curve: bool = spec(
        True, doc="also try one alpha per third of users by songs played; kept where it scores"
    )
    validation_user_fraction: float = spec(0.1, min=0.0, max=1.0)
    validation_play_fraction: float = spec(0.3, min=0.0, max=1.0)
    seed: int = spec(7)

    def check(self, key: str) -> None:
        """Non-empty grids: alphas in [0, 1], exponents at least 0."""
        for name, values, lo, hi in (
            ("alphas", self.alphas, 0.0, 1.0),
            ("popularity_exponents", self.popularity_exponents, 0.0, float("inf")),
            ("item_weights", self.item_weights, 0.0, 1.0),
            ("popularity_weights", self.popularity_weights, 0.0, 1.0),
        ):
            if not values:
                raise ConfigError(f"{key}.{name}: expected at least one value")
            for i, v in enumerate(values):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                    raise ConfigError(
                        f"{key}.{name}[{i}]: expected a number in [{lo}, {hi}], got {v!r}"
                    )


@dataclass(frozen=True)
class HybridConfig:
    top_n: int = spec(20, min=1)
    extra_candidates: int = spec(30, min=0)
    alpha: float = spec(0.75, min=0.0, max=1.0, doc="weight of the collaborative score")
    item_weight: float = spec(
        0.0,
        min=0.0,
        max=1.0,
        doc="share of the collaborative score from the item-based (co-play) model",
    )
    popularity_weight: float = spec(
        0.0, min=0.0, max=1.0, doc="share of the collaborative score from song popularity"
    )
    alpha_curve: list = spec(
        factory=list,
        doc="[[songs_played, alpha], ...] interpolated; empty uses alpha",
    )
    max_per_artist: int = spec(0, min=0, doc="0 disables the artist cap")
    novelty: float = spec(0.0, min=0.0, max=1.0)
    seeds_per_user: int = spec(10, min=1, doc="most played songs whose neighbours are candidates")
    popularity_exponent: float = spec(
        2.0, min=0.0, doc="content score weighted by popularity ** this in the blend; 0 = none"
    )
    cold_slots: int = spec(
        1, min=0, doc="last places of each list for songs nobody played, nearest by content"
    )
    similar_k: int = spec(20, min=1)
    similar_alpha: float = spec(0.5, min=0.0, max=1.0)
    similar_coplay_weight: float = spec(
        0.5,
        min=0.0,
        max=1.0,
        doc="similar_songs: share of the collaborative similarity from co-plays (rest: ALS)",
    )
    fit: BlendFitConfig = spec(factory=BlendFitConfig)

    def check(self, key: str) -> None:
        """Each ``alpha_curve`` point is ``[songs_played, alpha]`` with alpha in [0, 1]; the
        collaborative shares leave ALS a share (``item_weight + popularity_weight <= 1``)."""
        if self.item_weight + self.popularity_weight > 1.0 + 1e-9:
            raise ConfigError(
                f"{key}.item_weight + {key}.popularity_weight: expected at most 1 (ALS takes the "
                f"rest), got {self.item_weight} + {self.popularity_weight}"
            )
        for i, point in enumerate(self.alpha_curve):
            ok = (
                isinstance(point, list)
                and len(point) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)
                and 0.0 <= point[1] <= 1.0
            )
            if not ok:
                raise ConfigError(
                    f"{key}.alpha_curve[{i}]: expected [songs_played, alpha] with alpha in "
                    f"[0, 1], got {point!r}"
                )


@dataclass(frozen=True)
class EvaluationConfig:
    holdout_user_fraction: float = spec(0.2, min=0.0, max=1.0)
    holdout_play_fraction: float = spec(0.3, min=0.0, max=1.0)
    min_user_songs: int = spec(5, min=2)
    ks: list = spec(factory=lambda: [10, 50])
    map_tau: int = spec(
        500, min=0, doc="also report MAP at this cut-off (MSD Challenge mAP@500); 0 skips"
    )
    alpha_sweep: list = spec(
        factory=list,
        doc="hybrid alphas also evaluated, when asked (e.g. [0, 0.25, 0.5, 0.75, 1]); [] skips",
    )
    max_users: int = spec(
        25_000,
        min=0,
        doc="score a seeded sample of at most this many of the users who hid plays; 0: all",
    )
    seed: int = spec(42)

    def check(self, key: str) -> None:
        """``ks`` are positive integers and ``alpha_sweep`` numbers in [0, 1]."""
        for i, k in enumerate(self.ks):
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ConfigError(f"{key}.ks[{i}]: expected a positive integer, got {k!r}")
        for i, a in enumerate(self.alpha_sweep):
            if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a <= 1.0:
                raise ConfigError(f"{key}.alpha_sweep[{i}]: expected a number in [0, 1], got {a!r}")


@dataclass(frozen=True)
class DriftConfig:
    enabled: bool = spec(False, doc="refuse to move latest on a drift (recsys.evaluation.drift)")
    max_metric_drop: float = spec(
        0.0,
        min=0.0,
        doc="the gate metric may fall this much beyond the 95% interval of the change",
    )
    max_churn: float = spec(
        0.5,
        min=0.0,
        max=1.0,
        doc="top-k churn (1 - mean Jaccard) allowed while inputs and code are last night's",
    )


@dataclass(frozen=True)
class PublishConfig:
    gate_metric: str = spec("ndcg@10")
    compare_top_k: int = spec(
        10, min=1, doc="the night-over-night comparison reads each user's top this many"
    )
    drift: DriftConfig = spec(factory=DriftConfig)
    require_beat_popularity: bool = spec(True)
    stale_inputs: str = spec(
        "warn",
        choices=("warn", "refuse", "ignore"),
        doc="inputs' fingerprints the same as the last published run's: say so in the "
        "manifest (warn), or also keep latest where it is (refuse)",
    )
