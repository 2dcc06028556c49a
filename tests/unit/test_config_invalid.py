"""Every config value is validated at start: walk every field of every section (nested ones
too) and feed it a wrong type, a value out of range and a value outside its choices; the
ConfigError must name the dotted key. A job refuses the config before building Spark."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

import pytest

from recsys import config
from recsys.config import Config
from recsys.errors import ConfigError
from tests.support import REPO

LOCAL = str(REPO / "conf" / "local.yaml")


def _leaves(cls: type, prefix: str = "") -> list[tuple[str, Any, dict]]:
    """(dotted key, type, metadata) of every field under ``cls``, sections included."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = prefix + f.name, hints[f.name]
        out.append((key, tp, dict(f.metadata)))
        if dataclasses.is_dataclass(tp):
            out += _leaves(tp, key + ".")
    return out


FIELDS = _leaves(Config)


def _base_type(tp: Any) -> tuple[Any, bool]:
    """The type without Optional, and whether None is allowed."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def wrong_values(tp: Any) -> list[Any]:
    """Values of the wrong type for a field of type ``tp``."""
    base, _ = _base_type(tp)
    if dataclasses.is_dataclass(base):
        return ["not a mapping", 3, [1]]
    origin = typing.get_origin(base) or base
    return {
        bool: ["maybe", 1, None],
        int: ["ten", 2.5, True, None],
        float: ["x", True, float("nan"), float("inf"), None],
        str: [123, "", ["a"], None],
        list: ["not a list", {"a": 1}, None],
        dict: ["not a mapping", [1, 2], None],
    }[origin]


def wrong_cases() -> list[Any]:
    cases = []
    for key, tp, _ in FIELDS:
        _, optional = _base_type(tp)
        for value in wrong_values(tp):
            if value is None and optional:
                continue
            cases.append(pytest.param(key, value, id=f"{key}={value!r}"))
    return cases


def range_cases() -> list[Any]:
    """Just outside min and max, and a value outside the choices, for fields that have them."""
    cases = []
    for key, tp, meta in FIELDS:
        base, _ = _base_type(tp)
        step = 1 if base is int else 0.5
        if meta.get("min") is not None:
            cases.append(
                pytest.param(key, meta["min"] - step, "below the minimum", id=key + "<min")
            )
        if meta.get("max") is not None:
            cases.append(
                pytest.param(key, meta["max"] + step, "above the maximum", id=key + ">max")
            )
        if meta.get("choices") is not None:
            cases.append(pytest.param(key, "no-such-choice", "choose one of", id=key + "~choice"))
    return cases


def element_cases() -> list[Any]:
    """Lists and mappings whose element type is declared, given an element of the wrong type."""
    cases = []
    for key, tp, _ in FIELDS:
        base, _ = _base_type(tp)
        origin, args = typing.get_origin(base), typing.get_args(base)
        if origin is list and args:
            bad = "x" if args[0] in (int, float) else 7
            cases.append(pytest.param(key, [bad], f"{key}[0]", id=key + "[0]"))
        elif origin is dict and args:
            cases.append(pytest.param(key, {"k": ["not", "a", "string"]}, f"{key}.k", id=key))
            cases.append(pytest.param(key, {1: "v"}, f"{key}: keys", id=key + "-key"))
    return cases


def load_with(key: str, value: Any) -> Config:
    """The local config with one (possibly nested) key set to ``value``, validated."""
    data = config.load_raw(LOCAL)
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return config.from_dict(data)


def test_the_walk_sees_every_section_and_nested_section():
    keys = {key for key, _, _ in FIELDS}
    sections = {f.name for f in dataclasses.fields(Config)}
    assert sections <= keys and {"als.tuning.k", "emr.schedule.cron", "emr.core.count"} <= keys
    assert len(FIELDS) > 150  # sanity: every section was walked, not just the first
    assert load_with("als.rank", 8).als.rank == 8  # the helper itself accepts good values


@pytest.mark.parametrize("key, value", wrong_cases())
def test_wrong_type_is_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError) as err:
        load_with(key, value)
    assert str(err.value).startswith(key + ":"), str(err.value)


@pytest.mark.parametrize("key, value, problem", range_cases())
def test_out_of_range_or_choice_is_refused_naming_the_key(key, value, problem):
    with pytest.raises(ConfigError) as err:
        load_with(key, value)
    message = str(err.value)
    assert message.startswith(key + ":") and problem in message, message


@pytest.mark.parametrize("key, value, named", element_cases())
def test_wrong_element_type_is_refused_naming_the_element(key, value, named):
    with pytest.raises(ConfigError) as err:
        load_with(key, value)
    assert str(err.value).startswith(named), str(err.value)


@pytest.mark.parametrize(
    "key, value, named",
    [
        ("als.tuning.ranks", [8, 0], "als.tuning.ranks[1]: 0 is below the minimum 1"),
        ("als.tuning.reg_params", [-0.1], "als.tuning.reg_params[0]"),
        ("als.tuning.alphas", [], "als.tuning.alphas: expected a non-empty list"),
        ("hybrid.alpha_curve", [[1, 0.2], [5, 2.0]], "hybrid.alpha_curve[1]"),
        ("evaluation.ks", [10, -1], "evaluation.ks[1]"),
        ("evaluation.alpha_sweep", [0.5, 1.5], "evaluation.alpha_sweep[1]"),
        ("als.nosuch", 1, "als.nosuch: unknown key"),
        ("emr.schedule.nosuch", 1, "emr.schedule.nosuch: unknown key"),
    ],
)
def test_list_elements_and_unknown_keys_name_the_key(key, value, named):
    with pytest.raises(ConfigError) as err:
        load_with(key, value)
    assert str(err.value).startswith(named), str(err.value)


def test_yaml_nan_from_the_command_line_is_refused():
    with pytest.raises(ConfigError, match=r"^als.reg_param: expected a finite number"):
        config.load(LOCAL, ["als.reg_param=.nan"])
    assert math.isclose(config.load(LOCAL, ["als.reg_param=0.5"]).als.reg_param, 0.5)


def test_a_job_refuses_a_bad_config_before_starting_spark(capsys, monkeypatch):
    from jobs import ingest as ingest_job

    def no_spark(cfg):  # pragma: no cover - reaching it is the failure
        raise AssertionError("the session was built for an invalid config")

    monkeypatch.setattr("recsys.session.build_session", no_spark)
    code = ingest_job.main(["--conf", LOCAL, "--run-id", "r1", "--set", "ingest.max_play_count=0"])
    assert code == 2
    assert "error: ingest.max_play_count: 0 is below the minimum 1" in capsys.readouterr().err
