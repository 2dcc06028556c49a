"""Typed, validated pipeline configuration.

A config is YAML, optionally layered (``base: other.yaml`` merges ``other.yaml`` underneath),
loaded into frozen dataclasses. Every key is checked: an unknown key, a wrong type or a value
out of range raises :class:`ConfigError` naming the key and what is allowed. Any key can be
overridden with ``key.path=value`` strings (the ``--set`` flag of every job).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from recsys.errors import ConfigError


def _spec(
    default: Any = dataclasses.MISSING,
    *,
    factory: Any = dataclasses.MISSING,
    min: float | None = None,  # noqa: A002 - reads naturally at the call sites
    max: float | None = None,  # noqa: A002
    choices: tuple | None = None,
    doc: str = "",
) -> Any:
    meta = {"min": min, "max": max, "choices": choices, "doc": doc}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class SparkConfig:
    app_name: str = _spec("recsys")
    master: Optional[str] = _spec(None, doc="local[N] for local runs; unset on EMR")
    shuffle_partitions: int = _spec(200, min=1)
    driver_memory: Optional[str] = _spec(None)
    executor_memory: Optional[str] = _spec(None)
    checkpoint_dir: Optional[str] = _spec(None, doc="default: <warehouse.dir>/_checkpoints")
    kryo: bool = _spec(True)
    log_level: str = _spec("WARN", choices=("ALL", "DEBUG", "INFO", "WARN", "ERROR", "OFF"))
    extra: dict = _spec(factory=dict, doc="any further spark.* settings")


@dataclass(frozen=True)
class InputConfig:
    dir: str = _spec("data/sample", doc="local folder or s3:// prefix of the raw files")
    triplets: str = _spec("train_triplets.txt", doc="file name or glob; .gz also read")
    tracks: str = _spec("unique_tracks.txt")
    mismatches: str = _spec("sid_mismatches.txt")
    lyrics: str = _spec("mxm_dataset_*.txt")


@dataclass(frozen=True)
class WarehouseConfig:
    dir: str = _spec("warehouse", doc="local folder or s3:// prefix for runs/<run_id>/")


@dataclass(frozen=True)
class StorageConfig:
    s3_endpoint: Optional[str] = _spec(None, doc="custom S3 endpoint (tests); unset for AWS")
    spark_s3_scheme: str = _spec("s3", choices=("s3", "s3a"), doc="s3 on EMR, s3a elsewhere")
    region: Optional[str] = _spec(None)


@dataclass(frozen=True)
class IngestConfig:
    max_bad_fraction: float = _spec(0.01, min=0.0, max=1.0, doc="malformed lines / all lines")
    max_play_count: int = _spec(100_000, min=1, max=2**31 - 1, doc="plays above are quarantined")
    partitions: int = _spec(0, min=0, doc="repartition interactions; 0 keeps Spark's choice")


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
    enabled: bool = _spec(False)
    ranks: list[int] = _spec(factory=lambda: [16, 32])
    reg_params: list[float] = _spec(factory=lambda: [0.01, 0.1])
    alphas: list[float] = _spec(factory=lambda: [1.0, 10.0])
    validation_user_fraction: float = _spec(0.2, min=0.0, max=1.0)
    holdout_play_fraction: float = _spec(
        0.3, min=0.0, max=1.0, doc="share of a validation user's songs held out (at least 1)"
    )
    k: int = _spec(10, min=1)


@dataclass(frozen=True)
class AlsConfig:
    rank: int = _spec(32, min=1, max=1024)
    reg_param: float = _spec(0.1, min=0.0)
    alpha: float = _spec(10.0, min=0.0)
    max_iter: int = _spec(10, min=1)
    confidence: str = _spec("log", choices=("raw", "log", "binary"))
    log_eps: float = _spec(1.0, min=1e-9)
    num_user_blocks: int = _spec(4, min=1)
    num_item_blocks: int = _spec(4, min=1)
    checkpoint_interval: int = _spec(5, min=-1)
    seed: int = _spec(42)
    top_n: int = _spec(50, min=1, doc="candidates per user written to cf_user_topn")
    neighbours_k: int = _spec(20, min=1)
    neighbours_method: str = _spec("exact", choices=("exact", "lsh"))
    block_size: int = _spec(4096, min=16, doc="users per numpy scoring block")
    block_memory_mb: int = _spec(
        256, min=1, doc="cap on one block's score matrix; shrinks block_size for big catalogues"
    )
    score_partitions: int = _spec(
        0, min=0, doc="tasks scoring top-N and neighbours; 0 = twice the default parallelism"
    )
    intermediate_storage_level: str = _spec(
        "MEMORY_AND_DISK", choices=STORAGE_LEVELS[:-1], doc="ALS's per-iteration blocks"
    )
    final_storage_level: str = _spec(
        "MEMORY_AND_DISK", choices=STORAGE_LEVELS, doc="ALS's returned factor RDDs"
    )
    lsh_bucket_length: float = _spec(0.2, min=1e-6, doc="neighbours_method=lsh only")
    lsh_num_hash_tables: int = _spec(3, min=1)
    lsh_hashes_per_table: int = _spec(1, min=1, doc="BRP hashes AND-ed into one bucket key")
    lsh_max_candidates: int = _spec(200, min=2, doc="cap on songs per bucket chunk")
    lsh_min_similarity: float = _spec(0.0, min=-1.0, max=1.0, doc="cosine floor")
    tuning: TuningConfig = _spec(factory=TuningConfig)


@dataclass(frozen=True)
class ContentConfig:
    min_doc_freq: int = _spec(2, min=0, doc="terms in fewer songs get IDF 0 (lyrics and metadata)")
    w2v_vector_size: int = _spec(32, min=2)
    w2v_min_count: int = _spec(3, min=0)
    w2v_max_iter: int = _spec(1, min=1)
    w2v_max_sentence_length: int = _spec(1000, min=10, doc="lyric words per song sentence")
    w2v_num_partitions: int = _spec(1, min=1, doc="Word2Vec training partitions")
    w2v_window_size: int = _spec(5, min=1)
    lda_k: int = _spec(16, min=2)
    lda_max_iter: int = _spec(20, min=1)
    lda_subsampling_rate: float = _spec(
        0.05, min=1e-6, max=1.0, doc="share of songs per online LDA mini-batch"
    )
    lda_top_words: int = _spec(10, min=1)
    projection_dim: int = _spec(
        128, min=2, doc="random-projection size of each sparse TF-IDF part before PCA"
    )
    weight_tfidf: float = _spec(1.0, min=0.0)
    weight_w2v: float = _spec(1.0, min=0.0)
    weight_lda: float = _spec(1.0, min=0.0)
    weight_metadata: float = _spec(0.5, min=0.0)
    dim: int = _spec(64, min=2, doc="dimension of the combined content vector")
    seed: int = _spec(42)


@dataclass(frozen=True)
class NeighboursConfig:
    k: int = _spec(20, min=1)
    method: str = _spec("lsh", choices=("lsh", "exact"))
    bucket_length: float = _spec(0.15, min=1e-6)
    num_hash_tables: int = _spec(24, min=1)
    hashes_per_table: int = _spec(3, min=1, doc="BRP hashes AND-ed into one bucket key")
    max_candidates: int = _spec(300, min=2, doc="cap on songs per bucket chunk, so per song")
    min_similarity: float = _spec(
        0.0, min=-1.0, max=1.0, doc="cosine floor; distance threshold sqrt(2 - 2 * floor)"
    )
    recall_sample: int = _spec(200, min=0, doc="songs checked against exact top K")
    query_block_rows: int = _spec(4096, min=1, doc="exact search: query songs per numpy block")
    candidate_block_rows: int = _spec(
        32768, min=1, doc="exact search: catalogue songs per numpy block"
    )
    seed: int = _spec(42)


@dataclass(frozen=True)
class HybridConfig:
    top_n: int = _spec(20, min=1)
    extra_candidates: int = _spec(30, min=0)
    alpha: float = _spec(0.75, min=0.0, max=1.0, doc="weight of the collaborative score")
    alpha_curve: list = _spec(
        factory=list,
        doc="[[songs_played, alpha], ...] interpolated; empty uses alpha",
    )
    max_per_artist: int = _spec(0, min=0, doc="0 disables the artist cap")
    novelty: float = _spec(0.0, min=0.0, max=1.0)
    seeds_per_user: int = _spec(10, min=1, doc="most played songs whose neighbours are candidates")
    popularity_exponent: float = _spec(
        2.0, min=0.0, doc="content score weighted by popularity ** this in the blend; 0 = none"
    )
    cold_slots: int = _spec(
        1, min=0, doc="last places of each list for songs nobody played, nearest by content"
    )
    similar_k: int = _spec(20, min=1)
    similar_alpha: float = _spec(0.5, min=0.0, max=1.0)


@dataclass(frozen=True)
class EvaluationConfig:
    holdout_user_fraction: float = _spec(0.2, min=0.0, max=1.0)
    holdout_play_fraction: float = _spec(0.3, min=0.0, max=1.0)
    min_user_songs: int = _spec(5, min=2)
    ks: list = _spec(factory=lambda: [10, 50])
    map_tau: int = _spec(
        500, min=0, doc="also report MAP at this cut-off (MSD Challenge mAP@500); 0 skips"
    )
    alpha_sweep: list = _spec(
        factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], doc="hybrid alphas also evaluated; [] skips"
    )
    seed: int = _spec(42)


@dataclass(frozen=True)
class PublishConfig:
    gate_metric: str = _spec("ndcg@10")
    require_beat_popularity: bool = _spec(True)


@dataclass(frozen=True)
class EmrNodesConfig:
    """One node role (primary, core or task) of the EMR cluster."""

    instance_types: list[str] = _spec(
        factory=lambda: ["m5.xlarge"],
        doc="EC2 types, e.g. r5.2xlarge; fleets use all of them, groups the first",
    )
    count: int = _spec(1, min=0, doc="instances (fleet units = instances here)")
    market: str = _spec("ON_DEMAND", choices=("ON_DEMAND", "SPOT"))
    ebs_gb: int = _spec(64, min=0, doc="gp3 EBS volume per instance; 0 for none")


_WORKER_TYPES = ("r5.2xlarge", "r5a.2xlarge", "r6i.2xlarge")


@dataclass(frozen=True)
class EmrCoreNodesConfig(EmrNodesConfig):
    """Core nodes (YARN + HDFS): memory-optimised, Spot by default."""

    instance_types: list[str] = _spec(factory=lambda: list(_WORKER_TYPES))
    count: int = _spec(2, min=0)
    market: str = _spec("SPOT", choices=("ON_DEMAND", "SPOT"))


@dataclass(frozen=True)
class EmrTaskNodesConfig(EmrNodesConfig):
    """Task nodes (YARN only): Spot capacity that managed scaling adds and removes."""

    instance_types: list[str] = _spec(factory=lambda: list(_WORKER_TYPES))
    count: int = _spec(0, min=0)
    market: str = _spec("SPOT", choices=("ON_DEMAND", "SPOT"))


@dataclass(frozen=True)
class EmrScalingConfig:
    """EMR managed scaling bounds (core + task instances)."""

    enabled: bool = _spec(True)
    min_units: int = _spec(2, min=1)
    max_units: int = _spec(12, min=1)
    max_on_demand_units: int = _spec(3, min=0, doc="above this, scaling adds Spot capacity")
    max_core_units: int = _spec(4, min=1, doc="above this, scaling adds task nodes")


@dataclass(frozen=True)
class EmrScheduleConfig:
    """The nightly Step Functions state machine and its EventBridge Scheduler schedule."""

    cron: str = _spec("cron(0 2 * * ? *)", doc="EventBridge Scheduler expression")
    timezone: str = _spec("UTC", doc="IANA time zone of the cron expression")
    state_machine_name: str = _spec("recsys-nightly")
    state_machine_role_arn: Optional[str] = _spec(
        None, doc="role Step Functions assumes to create clusters and add steps"
    )
    schedule_name: str = _spec("recsys-nightly")
    schedule_group: str = _spec("default")
    scheduler_role_arn: Optional[str] = _spec(
        None, doc="role EventBridge Scheduler assumes to start the state machine"
    )
    enabled: bool = _spec(True)


@dataclass(frozen=True)
class EmrConfig:
    region: str = _spec("us-east-1")
    release_label: str = _spec("emr-7.13.0", doc="must ship the Spark that pyspark pins")
    code_prefix: Optional[str] = _spec(
        None, doc="s3://bucket/prefix; packages go to <code_prefix>/<version>/"
    )
    log_uri: Optional[str] = _spec(None, doc="s3:// prefix for cluster and step logs")
    cluster_name: str = _spec("recsys")
    service_role: str = _spec("EMR_DefaultRole")
    job_flow_role: str = _spec("EMR_EC2_DefaultRole", doc="EC2 instance profile of the nodes")
    subnet_ids: list[str] = _spec(factory=list, doc="fleets pick among all; groups use the first")
    ec2_key_name: Optional[str] = _spec(None)
    instance_mode: str = _spec("fleets", choices=("fleets", "groups"))
    primary: EmrNodesConfig = _spec(factory=EmrNodesConfig)
    core: EmrCoreNodesConfig = _spec(factory=EmrCoreNodesConfig)
    task: EmrTaskNodesConfig = _spec(factory=EmrTaskNodesConfig)
    spot_timeout_minutes: int = _spec(
        20, min=5, max=1440, doc="fleets: wait this long for Spot, then take on-demand"
    )
    managed_scaling: EmrScalingConfig = _spec(factory=EmrScalingConfig)
    python: str = _spec("/usr/bin/python3.11", doc="interpreter on the nodes (EMR 7 ships 3.11)")
    definitions_dir: str = _spec(
        "emr", doc="cluster/ASL templates, classifications, bootstrap (relative to the repo)"
    )
    spark_defaults: dict = _spec(
        factory=dict, doc="spark-defaults merged over emr/configurations.json"
    )
    action_on_failure: Optional[str] = _spec(
        None,
        choices=("TERMINATE_CLUSTER", "CANCEL_AND_WAIT"),
        doc="default: TERMINATE_CLUSTER on a transient cluster, CANCEL_AND_WAIT on a running one",
    )
    idle_timeout_seconds: int = _spec(
        3600, min=60, doc="auto-termination of an idle scheduled cluster (safety net)"
    )
    tags: dict[str, str] = _spec(factory=lambda: {"project": "recsys"})
    schedule: EmrScheduleConfig = _spec(factory=EmrScheduleConfig)
    extra: dict = _spec(factory=dict, doc="further RunJobFlow request fields, merged on top")


@dataclass(frozen=True)
class Config:
    spark: SparkConfig = _spec(factory=SparkConfig)
    input: InputConfig = _spec(factory=InputConfig)
    warehouse: WarehouseConfig = _spec(factory=WarehouseConfig)
    storage: StorageConfig = _spec(factory=StorageConfig)
    ingest: IngestConfig = _spec(factory=IngestConfig)
    als: AlsConfig = _spec(factory=AlsConfig)
    content: ContentConfig = _spec(factory=ContentConfig)
    neighbours: NeighboursConfig = _spec(factory=NeighboursConfig)
    hybrid: HybridConfig = _spec(factory=HybridConfig)
    evaluation: EvaluationConfig = _spec(factory=EvaluationConfig)
    publish: PublishConfig = _spec(factory=PublishConfig)
    emr: EmrConfig = _spec(factory=EmrConfig)

    def to_dict(self) -> dict:
        """Plain nested dict, as written into run manifests."""
        return dataclasses.asdict(self)

    def replace(self, *overrides: str) -> Config:
        """A copy with ``key.path=value`` overrides applied and validated."""
        return from_dict(apply_overrides(self.to_dict(), overrides))


# --------------------------------------------------------------------------- validation


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_value(key: str, value: Any, tp: Any, meta: dict) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        tp = args[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {_field_names(tp)}, got {value!r}")
        return _build(tp, value, key + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    elif tp is str:
        if not isinstance(value, str) or value == "":
            raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
    elif tp is list or typing.get_origin(tp) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item_tp = (typing.get_args(tp) or (Any,))[0]
        if item_tp is not Any:
            value = [_check_value(f"{key}[{i}]", v, item_tp, {}) for i, v in enumerate(value)]
    elif tp is dict or typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        key_tp, item_tp = typing.get_args(tp) or (Any, Any)
        if key_tp is str and not all(isinstance(k, str) for k in value):
            bad = next(k for k in value if not isinstance(k, str))
            raise ConfigError(f"{key}: keys must be strings, got {bad!r}")
        if item_tp is not Any:
            value = {k: _check_value(f"{key}.{k}", v, item_tp, {}) for k, v in value.items()}
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if choices is not None and value not in choices:
        allowed = ", ".join(map(str, choices))
        raise ConfigError(f"{key}: {value!r} is not allowed; choose one of: {allowed}")
    if lo is not None and value < lo:
        raise ConfigError(f"{key}: {value!r} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{key}: {value!r} is above the maximum {hi}")
    return value


def _field_names(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{prefix}{key}: unknown key; allowed keys here are: {_field_names(cls)}"
            )
    kwargs = {}
    for name, fld in known.items():
        if name in data:
            kwargs[name] = _check_value(prefix + name, data[name], hints[name], fld.metadata)
    return cls(**kwargs)


def _check_cross_fields(cfg: Config) -> None:
    for i, point in enumerate(cfg.hybrid.alpha_curve):
        ok = (
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)
            and 0.0 <= point[1] <= 1.0
        )
        if not ok:
            raise ConfigError(
                f"hybrid.alpha_curve[{i}]: expected [songs_played, alpha] with alpha in [0, 1], "
                f"got {point!r}"
            )
    for i, k in enumerate(cfg.evaluation.ks):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"evaluation.ks[{i}]: expected a positive integer, got {k!r}")
    for i, a in enumerate(cfg.evaluation.alpha_sweep):
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a <= 1.0:
            raise ConfigError(
                f"evaluation.alpha_sweep[{i}]: expected a number in [0, 1], got {a!r}"
            )
    content = cfg.content
    combined = (
        (content.projection_dim if content.weight_tfidf > 0 else 0)
        + (content.projection_dim if content.weight_metadata > 0 else 0)
        + (content.w2v_vector_size if content.weight_w2v > 0 else 0)
        + (content.lda_k if content.weight_lda > 0 else 0)
    )
    if content.dim > combined:
        raise ConfigError(
            f"content.dim: {content.dim} is larger than the {combined} columns the weighted parts "
            "give (projection_dim per TF-IDF part, w2v_vector_size, lda_k); lower content.dim"
        )
    for name, lowest in (("ranks", 1), ("reg_params", 0.0), ("alphas", 0.0)):
        values = getattr(cfg.als.tuning, name)
        if not values:
            raise ConfigError(f"als.tuning.{name}: expected a non-empty list of numbers")
        for i, v in enumerate(values):
            if v < lowest:
                raise ConfigError(f"als.tuning.{name}[{i}]: {v!r} is below the minimum {lowest}")


def from_dict(data: dict) -> Config:
    """Validate a nested dict into a :class:`Config`."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(data).__name__}")
    cfg = _build(Config, data)
    _check_cross_fields(cfg)
    return cfg


# --------------------------------------------------------------------------- loading


def _deep_merge(base: dict, top: dict) -> dict:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "extra":
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_text(path: str) -> str:
    if path.startswith(("s3://", "s3a://")):
        from recsys.storage import files as storage

        return storage.read_bytes(path).decode("utf-8")
    return Path(path).read_text(encoding="utf-8")


def load_raw(path: str, _seen: tuple = ()) -> dict:
    """Read a YAML config and the ``base:`` files beneath it into one dict."""
    if path in _seen:
        raise ConfigError(f"{path}: 'base' chain loops back on itself")
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base:
        if "://" in path:
            base_path = path.rsplit("/", 1)[0] + "/" + base
        else:
            base_path = str(Path(path).parent / base)
        data = _deep_merge(load_raw(base_path, _seen + (path,)), data)
    return data


def apply_overrides(data: dict, overrides: typing.Iterable[str]) -> dict:
    """Apply ``a.b.c=value`` strings; values are parsed as YAML scalars or lists."""
    data = _deep_merge({}, data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def load(path: str, overrides: typing.Iterable[str] = ()) -> Config:
    """Load, layer, override and validate a config file."""
    return from_dict(apply_overrides(load_raw(path), overrides))
