"""Test helpers for the EMR tests: a tiny ASL intrinsic evaluator, expected step arguments."""

from __future__ import annotations

import re
from typing import Any

from recsys import steps as pipeline

_TOKEN = re.compile(
    r"\s*(?:(?P<func>States\.[A-Za-z]+)\(|(?P<str>'(?:\\.|[^'\\])*')|(?P<path>\$\$?(?:\.[A-Za-z_]\w*)*)"
    r"|(?P<num>-?\d+)|(?P<comma>,)|(?P<close>\)))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"cannot parse intrinsic at {text[pos:]!r}")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _path(path: str, data: dict, context: dict) -> Any:
    root, rest = (context, path[3:]) if path.startswith("$$.") else (data, path[2:])
    node: Any = root
    for part in filter(None, rest.split(".")):
        node = node[part]
    return node


def evaluate(expr: str, data: dict, context: dict | None = None) -> Any:
    """Evaluate an ASL JSONPath or intrinsic (Array, Format, StringSplit, ArrayGetItem,
    ArrayLength)."""
    context = context or {}
    tokens = _tokens(expr)
    pos = 0

    def parse() -> Any:
        nonlocal pos
        kind, value = tokens[pos]
        pos += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "num":
            return int(value)
        if kind == "path":
            return _path(value, data, context)
        if kind == "func":
            args = []
            while tokens[pos][0] != "close":
                args.append(parse())
                if tokens[pos][0] == "comma":
                    pos += 1
            pos += 1
            return _call(value, args)
        raise ValueError(f"unexpected {value!r} in {expr!r}")

    result = parse()
    assert pos == len(tokens), f"trailing tokens in {expr!r}"
    return result


def _call(name: str, args: list) -> Any:
    if name == "States.Array":
        return list(args)
    if name == "States.Format":
        template, *values = args
        parts = template.split("{}")
        assert len(parts) == len(values) + 1, (template, values)
        return "".join(p + (str(values[i]) if i < len(values) else "") for i, p in enumerate(parts))
    if name == "States.StringSplit":
        text, delimiters = args
        return [p for p in re.split("[" + re.escape(delimiters) + "]", text) if p]
    if name == "States.ArrayGetItem":
        return args[0][args[1]]
    if name == "States.ArrayLength":
        (array,) = args
        return len(array)
    raise ValueError(f"intrinsic {name} not supported by this evaluator")


def resolve_parameters(node: Any, data: dict, context: dict | None = None) -> Any:
    """ASL ``Parameters`` with every ``key.$`` evaluated against ``data``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key.endswith(".$"):
                out[key[:-2]] = evaluate(value, data, context)
            else:
                out[key] = resolve_parameters(value, data, context)
        return out
    if isinstance(node, list):
        return [resolve_parameters(v, data, context) for v in node]
    return node


def expected_args(
    step: pipeline.Step,
    code_root: str,
    conf: str,
    run_id: str,
    python: str = "/usr/bin/python3.11",
) -> list[str]:
    """The spark-submit command of one step, spelled out independently of the builder."""
    return [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "--name",
        f"recsys-{step.name}",
        "--archives",
        f"{code_root}/env.tar.gz#environment",
        "--conf",
        f"spark.pyspark.python={python}",
        "--conf",
        f"spark.pyspark.driver.python={python}",
        "--conf",
        f"spark.yarn.appMasterEnv.PYSPARK_PYTHON={python}",
        "--conf",
        f"spark.executorEnv.PYSPARK_PYTHON={python}",
        "--conf",
        "spark.yarn.appMasterEnv.PYTHONPATH=./environment",
        "--conf",
        "spark.executorEnv.PYTHONPATH=./environment",
        # the JDK 17 vector API for Spark ML's BLAS, through the java launcher's variable
        "--conf",
        "spark.yarn.appMasterEnv.JDK_JAVA_OPTIONS=--add-modules=jdk.incubator.vector",
        "--conf",
        "spark.executorEnv.JDK_JAVA_OPTIONS=--add-modules=jdk.incubator.vector",
        "--py-files",
        f"{code_root}/recsys.zip",
        f"{code_root}/jobs/{step.name.replace('-', '_')}.py",
        "--conf",
        f"{code_root}/conf/{conf}",
        "--run-id",
        run_id,
    ]


def fake_steps() -> tuple[pipeline.Step, ...]:
    """The pipeline as it will be once every branch lands, for ordering tests."""
    names = [
        "ingest",
        "train-als",
        "train-itemknn",
        "content",
        "neighbours",
        "fit-blend",
        "hybrid",
        "evaluate",
        "publish",
    ]
    real = {s.name: s for s in pipeline.STEPS}
    return tuple(real.get(n) or pipeline.Step(n, f"recsys.{n}:run", n) for n in names)


# --------------------------------------------------------------------------- AWS rules

CAPACITY_FIELDS = ("TargetOnDemandCapacity", "TargetSpotCapacity")


def capacities(fleet: dict) -> dict[str, Any]:
    """The capacity fields a fleet sends, with their values."""
    return {k: fleet[k] for k in CAPACITY_FIELDS if k in fleet}


def task_states(asl: dict) -> dict[str, dict]:
    """Every ``Task`` state of a state machine, by name."""
    return {name: s for name, s in asl["States"].items() if s["Type"] == "Task"}


def transitions(state: dict) -> list[str]:
    """Every state ``state`` can move to: Next, Default, Choices and Catch targets."""
    targets = [state.get("Next"), state.get("Default")]
    targets += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    return [t for t in targets if t]


def endings(asl: dict, start: str) -> set[str]:
    """The states an execution can end in from ``start`` (``End`` or a Fail/Succeed state)."""
    states, seen, todo, out = asl["States"], set(), [start], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        if state.get("End") or state["Type"] in ("Fail", "Succeed"):
            out.add(name)
        todo += transitions(state)
    return out


def package_files() -> set[str]:
    """What ``recsys emr package`` builds and uploads under the code prefix."""
    return {
        "env.tar.gz",
        "recsys.zip",
        "requirements-emr.txt",
        "bootstrap.sh",
        "manifest.json",
        "conf/emr.yaml",
        "conf/base.yaml",
        *(s.job_file for s in pipeline.STEPS),
    }
