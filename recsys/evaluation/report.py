"""The evaluation's Markdown: metrics by model and K, the paired comparisons, the sweep."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from recsys import names as S
from recsys.evaluation.checks import metric_key
from recsys.evaluation.metrics import metric_order


def _model_label(row: Mapping[str, Any]) -> str:
    alpha = row.get(S.ALPHA)
    return str(row["model"]) if alpha is None else f"{row['model']} (alpha={alpha:g})"


def report_markdown(metrics_rows: Sequence[Mapping[str, Any]], digits: int = 4) -> str:
    """A Markdown table: one row per model (alpha-sweep rows labelled), one column per metric@K.

    Rows keep the order of first appearance; columns go precision, recall, ndcg, map,
    coverage, diversity (others after), then by K. The best value of each column is bold
    (higher is better for all of them); a missing value shows as an en dash.
    """
    if not metrics_rows:
        return "_No metrics._\n"
    models: list[str] = []
    columns: list[tuple[str, int | None]] = []
    cells: dict[tuple[str, tuple[str, int | None]], float] = {}
    for row in metrics_rows:
        label = _model_label(row)
        column = (str(row["metric"]), None if row.get("k") is None else int(row["k"]))
        if label not in models:
            models.append(label)
        if column not in columns:
            columns.append(column)
        cells[(label, column)] = float(row["value"])
    columns.sort(key=lambda c: (metric_order(c[0]), math.inf if c[1] is None else c[1]))
    best = {}
    for column in columns:
        values = [cells[(m, column)] for m in models if (m, column) in cells]
        values = [v for v in values if not math.isnan(v)]
        if len(values) > 1 and max(values) > min(values):
            best[column] = max(values)
    header = ["model", *[metric_key(metric, k) for metric, k in columns]]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for model in models:
        cells_out = [model]
        for column in columns:
            value = cells.get((model, column))
            if value is None:
                cells_out.append("–")
                continue
            text = f"{value:.{digits}f}"
            cells_out.append(f"**{text}**" if best.get(column) == value else text)
        lines.append("| " + " | ".join(cells_out) + " |")
    return "\n".join(lines) + "\n"


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{model: {"ndcg@10": value, ...}} of the rows without an alpha."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.get("alpha") is None:
            out.setdefault(row["model"], {})[metric_key(row["metric"], row["k"])] = row["value"]
    return out


def comparison_markdown(comparisons: dict[str, dict[str, dict[str, float]]]) -> str:
    """The hybrid against each model, paired over the held-out users, as a Markdown table."""
    if not comparisons:
        return ""
    keys = list(next(iter(comparisons.values())))
    lines = [
        "",
        "## Hybrid against each model",
        "",
        "Mean of (hybrid - model) over the held-out users, with its 95% interval "
        "(1.96 standard errors of the paired differences) and how many users each side wins.",
        "",
        "| hybrid vs | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for other, by_key in comparisons.items():
        cells = []
        for key in keys:
            c = by_key[key]
            sign = "**" if c["mean"] - c["ci95"] > 0 else ""
            cells.append(
                f"{sign}{c['mean']:+.4f} ± {c['ci95']:.4f}{sign} "
                f"({c['better']} better / {c['worse']} worse)"
            )
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Bold: the whole interval is above 0.")
    return "\n".join(lines) + "\n"


def _shares(chosen: Mapping[str, Any]) -> str:
    w_item = float(chosen.get("item_weight", 0.0) or 0.0)
    w_pop = float(chosen.get("popularity_weight", 0.0) or 0.0)
    return f"{1 - w_item - w_pop:g} ALS + {w_item:g} item-based + {w_pop:g} popularity"


def blend_markdown(blend: Mapping[str, Any] | None, top: int = 5) -> str:
    """The blend the hybrid was judged with: chosen values, how, and the best of its sweep."""
    if not blend:
        return ""
    chosen = blend.get("chosen", {})
    curve = chosen.get("alpha_curve") or []
    lines = [
        "",
        "## Blend",
        "",
        f"Mode **{blend.get('mode')}**: alpha {chosen.get('alpha')}, popularity exponent "
        f"{chosen.get('popularity_exponent')}"
        + (f", alpha curve {curve}" if curve else ", no alpha curve")
        + f"; collaborative score {_shares(chosen)}.",
    ]
    if blend.get("note"):
        lines += ["", str(blend["note"])]
    shares = blend.get("share_sweep") or []
    if shares:
        ranked_shares = sorted(
            shares,
            key=lambda r: (
                -r["value"],
                r["item_weight"] + r["popularity_weight"],
                r["item_weight"],
            ),
        )
        lines += [
            "",
            f"First the collaborative score's shares, at alpha 1 (the best "
            f"{min(top, len(shares))} of {len(shares)}"
            + ("" if blend.get("item_based", True) else "; no item-based model in the pool")
            + "):",
            "",
            f"| item-based | popularity | ALS | {blend.get('metric')} |",
            "|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['item_weight']:g} | {r['popularity_weight']:g} | "
            f"{1 - r['item_weight'] - r['popularity_weight']:g} | {r['value']:.4f} |"
            for r in ranked_shares[:top]
        ]
    sweep = blend.get("sweep") or []
    if sweep:
        lines += [
            "",
            f"Fitted on {blend.get('validation_users')} validation users "
            f"({blend.get('validation_plays')} hidden plays) by {blend.get('metric')}; "
            f"the best {min(top, len(sweep))} of {len(sweep)} grid points:",
            "",
            f"| alpha | popularity exponent | {blend.get('metric')} |",
            "|---:|---:|---:|",
        ]
        ranked = sorted(sweep, key=lambda r: (-r["value"], -r["alpha"], r["popularity_exponent"]))
        lines += [
            f"| {r['alpha']:g} | {r['popularity_exponent']:g} | {r['value']:.4f} |"
            for r in ranked[:top]
        ]
        curve_doc = blend.get("curve") or {}
        if curve_doc.get("tried"):
            used = "kept" if curve_doc.get("used") else "not kept"
            lines += [
                "",
                f"Alpha curve {curve_doc.get('points')}: {curve_doc['value']:.4f}, {used}.",
            ]
        elif curve_doc.get("reason"):
            lines += ["", f"No alpha curve: {curve_doc['reason']}."]
    return "\n".join(lines) + "\n"
