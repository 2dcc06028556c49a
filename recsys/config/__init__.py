"""Typed, validated pipeline configuration.

A config is YAML, optionally layered (``base: other.yaml`` merges ``other.yaml`` underneath),
loaded into frozen dataclasses. Every key is checked: an unknown key, a wrong type or a value
out of range raises :class:`~recsys.errors.ConfigError` naming the key and what is allowed.
Any key can be overridden with ``key.path=value`` strings (the ``--set`` flag of every job).
The sections are in :mod:`~recsys.config.sections` and :mod:`~recsys.config.emr`, the
validator in :mod:`~recsys.config.validate`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from recsys.config.emr import (
    EmrConfig,
    EmrCoreNodesConfig,
    EmrNodesConfig,
    EmrScalingConfig,
    EmrScheduleConfig,
    EmrTaskNodesConfig,
)
from recsys.config.sections import (
    AlsConfig,
    BlendFitConfig,
    ContentConfig,
    EvaluationConfig,
    HybridConfig,
    IngestConfig,
    InputConfig,
    ItemKnnConfig,
    NeighboursConfig,
    PublishConfig,
    SparkConfig,
    StorageConfig,
    TuningConfig,
    WarehouseConfig,
)
from recsys.config.validate import apply_overrides, build, check_sections, load_raw, spec

# The CLI edges catch ``config_mod.ConfigError``; the class itself lives in recsys.errors.
from recsys.errors import ConfigError

__all__ = [
    "AlsConfig",
    "BlendFitConfig",
    "Config",
    "ConfigError",
    "ContentConfig",
    "EmrConfig",
    "EmrCoreNodesConfig",
    "EmrNodesConfig",
    "EmrScalingConfig",
    "EmrScheduleConfig",
    "EmrTaskNodesConfig",
    "EvaluationConfig",
    "HybridConfig",
    "IngestConfig",
    "InputConfig",
    "ItemKnnConfig",
    "NeighboursConfig",
    "PublishConfig",
    "SparkConfig",
    "StorageConfig",
    "TuningConfig",
    "WarehouseConfig",
    "apply_overrides",
    "from_dict",
    "load",
    "load_raw",
]


@dataclass(frozen=True)
class Config:
    spark: SparkConfig = spec(factory=SparkConfig)
    input: InputConfig = spec(factory=InputConfig)
    warehouse: WarehouseConfig = spec(factory=WarehouseConfig)
    storage: StorageConfig = spec(factory=StorageConfig)
    ingest: IngestConfig = spec(factory=IngestConfig)
    als: AlsConfig = spec(factory=AlsConfig)
    itemknn: ItemKnnConfig = spec(factory=ItemKnnConfig)
    content: ContentConfig = spec(factory=ContentConfig)
    neighbours: NeighboursConfig = spec(factory=NeighboursConfig)
    hybrid: HybridConfig = spec(factory=HybridConfig)
    evaluation: EvaluationConfig = spec(factory=EvaluationConfig)
    publish: PublishConfig = spec(factory=PublishConfig)
    emr: EmrConfig = spec(factory=EmrConfig)

    def to_dict(self) -> dict:
        """Plain nested dict, as written into run manifests."""
        return dataclasses.asdict(self)

    def replace(self, *overrides: str) -> Config:
        """A copy with ``key.path=value`` overrides applied and validated."""
        return from_dict(apply_overrides(self.to_dict(), overrides))


def from_dict(data: dict) -> Config:
    """Validate a nested dict into a :class:`Config`."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(data).__name__}")
    cfg = build(Config, data)
    check_sections(cfg)
    return cfg


def load(path: str, overrides: typing.Iterable[str] = ()) -> Config:
    """Load, layer, override and validate a config file."""
    return from_dict(apply_overrides(load_raw(path), overrides))
