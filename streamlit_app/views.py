"""The viewer's layout: sidebar, the user, song and run pages, and error messages.

All reads go through :mod:`streamlit_app.loaders`; the only computation here is the live
re-blend of stored candidates with :func:`recsys.blend.rerank`.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from recsys import names
from recsys.errors import WarehouseError
from recsys.models.blend import rerank
from streamlit_app import auth, loaders

LOG = logging.getLogger(__name__)
WAREHOUSE_ENV = "RECSYS_WAREHOUSE"
PAGES = ("User", "Song", "Run", "History")
# similar_songs.source: the lists a row came from, joined by "+" ("both" = cf + content)
SOURCE_LABELS = {"cf": "ALS", "coplay": "co-plays", "content": "content"}


def source_label(source: str) -> str:
    """``"cf+coplay"`` -> ``"ALS + co-plays"``; older runs' ``"both"`` is ALS + content."""
    parts = ["cf", "content"] if source == "both" else str(source).split("+")
    return " + ".join(SOURCE_LABELS.get(p, p) for p in parts)


class ViewerError(RuntimeError):
    """Something the viewer explains to the user instead of drawing a page."""


# ----------------------------------------------------------------------------- setup
def warehouse_from_args(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> str | None:
    """The warehouse from ``--warehouse`` (after ``--`` of streamlit run) or the environment."""
    return options_from_args(argv, environ)["warehouse"]


def options_from_args(
    argv: Sequence[str], environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """``warehouse``, ``require_login`` and ``allow`` from the app's arguments (after ``--``
    of streamlit run) or the environment (:mod:`streamlit_app.auth`)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--warehouse")
    parser.add_argument("--require-login", action="store_true")
    parser.add_argument("--allow")
    args, _ = parser.parse_known_args(list(argv))
    flag = environ.get(auth.REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return {
        "warehouse": args.warehouse or environ.get(WAREHOUSE_ENV) or None,
        "require_login": bool(args.require_login or flag),
        "allow": auth.allow_list(args.allow or environ.get(auth.ALLOW_ENV)),
    }


def aws_credentials_found() -> bool:
    """Whether boto's credential chain (environment, profile, instance role) finds any."""
    import botocore.session

    return botocore.session.get_session().get_credentials() is not None


def explain(exc: BaseException, root: str | None = None) -> str:
    """A message for an error reading the warehouse at ``root``, naming the likely cause."""
    text = str(exc)
    low = text.lower()
    if isinstance(exc, WarehouseError):
        return text
    if "nosuchbucket" in low or "no_such_bucket" in low or "bucket does not exist" in low:
        return f"The S3 bucket does not exist: {text}"
    if loaders.is_s3(root) and not aws_credentials_found():
        return (
            "No AWS credentials found for the S3 warehouse: set AWS_PROFILE, or "
            f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and try again. Details: {text}"
        )
    if any(
        s in low
        for s in (
            "credential",
            "access_denied",
            "accessdenied",
            "invalidaccesskeyid",
            "signaturedoesnotmatch",
            "forbidden",
            "403",
        )
    ):
        return (
            "S3 refused access: check the AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY) and that they may read the bucket. Details: {text}"
        )
    if any(s in low for s in ("curl", "connect", "resolve host", "timed out", "timeout")):
        endpoint = loaders.storage_endpoint()
        return f"Could not reach the storage ({endpoint}). Details: {text}"
    return f"Could not read the warehouse: {text}"


def _query(name: str) -> str | None:
    value = st.query_params.get(name)
    return value or None


def main(root: str | None, require_login: bool = False, allow: Sequence[str] = ()) -> None:
    """Draw the viewer for the warehouse at ``root`` (behind a login when required)."""
    st.sidebar.title("recsys viewer")
    if not auth.gate(require_login, allow):
        return
    if not root:
        st.error(
            "No warehouse given. Start the viewer with `recsys viewer --warehouse DIR` "
            f"(a local folder or an s3:// prefix) or set {WAREHOUSE_ENV}."
        )
        return
    st.sidebar.caption(f"Warehouse: `{root}`")
    page_default = _query("page") if _query("page") in PAGES else PAGES[0]
    page = st.sidebar.radio("Page", PAGES, index=PAGES.index(page_default), key="page")
    try:
        run_id = choose_run(root)
        if run_id is None:
            return
        pages = {"User": user_page, "Song": song_page, "Run": run_page, "History": history_page}
        pages[page](root, run_id)
    except ViewerError as exc:
        st.error(str(exc))
    except (WarehouseError, OSError) as exc:  # StorageError and pyarrow's S3 errors are OSErrors
        st.error(explain(exc, root))
    except Exception as exc:  # noqa: BLE001 - the page shows a message, the log the trace
        LOG.exception("viewer failed on the %s page", page)
        st.error(f"Something went wrong drawing this page ({type(exc).__name__}: {exc}).")


def choose_run(root: str) -> str | None:
    """The sidebar's run picker: ``latest`` by default, or ``?run=`` / an older run."""
    problem = loaders.check_location(root)
    if problem:
        st.error(f"{problem} Check the --warehouse argument or {WAREHOUSE_ENV}.")
        return None
    runs, latest = loaders.runs(root)
    if not runs:
        st.info(
            f"The warehouse at `{root}` has no runs yet: run the pipeline "
            "(`recsys run --set warehouse.dir=...`) and come back."
        )
        return None
    wanted = _query("run")
    if wanted and wanted not in runs:
        st.error(f"Run {wanted!r} is not in the warehouse; it has: {', '.join(runs)}.")
        return None
    if latest is not None and latest not in runs:
        st.error(
            f"The latest pointer names run {latest!r}, which is missing from the warehouse. "
            "Pick another run in the sidebar."
        )
        latest = None
    elif latest is None:
        st.warning("No run has been published yet (no `latest` pointer): showing the newest run.")
    default = wanted or latest or runs[0]
    labels = {r: f"{r} (latest)" if r == latest else r for r in runs}
    return st.sidebar.selectbox(
        "Run", runs, index=runs.index(default), format_func=labels.get, key="run"
    )


def _require(root: str, run_id: str, *tables: str) -> None:
    missing = [t for t in tables if not loaders.has_table(root, run_id, t)]
    if missing and loaders.has_document(root, run_id, names.PRUNED):
        pruned = loaders.document(root, run_id, names.PRUNED)
        when = (
            pruned.get("finished_at") or pruned.get("started_at")
            if isinstance(pruned, dict)
            else None
        )
        raise ViewerError(
            f"Run {run_id!r} was pruned ({when or 'date unknown'}, `recsys runs prune`): its "
            "tables are deleted; its reports stay on the Run page. Pick another run."
        )
    if missing:
        raise ViewerError(
            f"Run {run_id!r} has no complete {', '.join(missing)} table: it was not written "
            "(or its job did not finish). Pick another run."
        )


def _hybrid_settings(root: str, run_id: str) -> dict[str, Any]:
    """The hybrid settings recorded in the run's manifest, if any."""
    try:
        manifest = loaders.document(root, run_id, names.MANIFEST)
    except WarehouseError:
        return {}
    config = manifest.get("config", {}) if isinstance(manifest, dict) else {}
    hybrid = config.get("hybrid", {}) if isinstance(config, dict) else {}
    hybrid = dict(hybrid) if isinstance(hybrid, dict) else {}
    # a fitted blend: the values the run chose, not the config's defaults
    blend = manifest.get("blend") if isinstance(manifest, dict) else None
    if isinstance(blend, dict) and blend.get("mode") == "fitted":
        hybrid.update(blend.get("chosen") or {})
    return hybrid


# ----------------------------------------------------------------------------- user page
SCORE_BARS = {
    names.RANK: st.column_config.NumberColumn("#", width="small"),
    names.TITLE: st.column_config.TextColumn("Title"),
    names.ARTIST: st.column_config.TextColumn("Artist"),
    names.SCORE: st.column_config.NumberColumn("Score", format="%.3f"),
    names.CF_SCORE: st.column_config.ProgressColumn(
        "Collaborative", min_value=0.0, max_value=1.0, format="%.2f"
    ),
    names.CONTENT_SCORE: st.column_config.ProgressColumn(
        "Content", min_value=0.0, max_value=1.0, format="%.2f"
    ),
    names.ITEM_SCORE: st.column_config.ProgressColumn(
        "Item-based", min_value=0.0, max_value=1.0, format="%.2f"
    ),
    names.REASON: st.column_config.TextColumn("Why"),
}


def pick_user(root: str, run_id: str) -> dict:
    """The user chosen by id (typed or ``?user=``) or from the example users."""
    examples = loaders.example_users(root, run_id)
    typed = st.text_input(
        "User id",
        value=_query("user") or "",
        placeholder="paste a Taste Profile user id",
        key="user_id",
    ).strip()
    options = examples[names.USER_ID].tolist()
    counts = dict(zip(options, examples["n_songs"], strict=True))
    chosen = st.selectbox(
        "…or pick an example user",
        options,
        format_func=lambda u: f"{u} ({counts[u]} songs)",
        disabled=bool(typed),
        key="example_user",
    )
    user_id = typed or chosen
    if not user_id:
        raise ViewerError(f"Run {run_id!r} has no recommended users to show.")
    user = loaders.find_user(root, run_id, user_id)
    if user is None:
        raise ViewerError(f"Unknown user {user_id!r}: no such user id in run {run_id!r}.")
    return user


def user_page(root: str, run_id: str) -> None:
    st.header("Recommendations for a user")
    _require(root, run_id, names.USERS, names.USER_RECOMMENDATIONS)
    user = pick_user(root, run_id)
    user_idx = int(user[names.USER])
    st.subheader(f"User `{user[names.USER_ID]}`")
    c1, c2 = st.columns(2)
    c1.metric("Songs played", f"{int(user['n_songs']):,}")
    c2.metric("Plays", f"{int(user['n_plays']):,}")

    stored = loaders.recommendations(root, run_id, names.USER_RECOMMENDATIONS, user_idx)
    shown = reblend_controls(root, run_id, user_idx, stored)
    draw_recommendations(shown)

    st.markdown("**Most played**")
    played = loaders.most_played(root, run_id, user_idx)
    st.dataframe(
        played.fillna({names.ARTIST: "unknown artist"}),
        hide_index=True,
        column_order=[names.TITLE, names.ARTIST, names.PLAYS],
        column_config={
            names.TITLE: "Title",
            names.ARTIST: "Artist",
            names.PLAYS: st.column_config.NumberColumn("Plays"),
        },
        key="most_played",
    )


def reblend_controls(root: str, run_id: str, user_idx: int, stored: pd.DataFrame) -> pd.DataFrame:
    """The alpha and diversity controls; the stored list, or the candidates re-blended."""
    st.markdown("**Recommendations**")
    has_candidates = loaders.has_table(root, run_id, names.USER_CANDIDATES)
    live = st.toggle(
        "Re-blend live",
        value=False,
        disabled=not has_candidates,
        help="Re-rank the stored candidates with another alpha, artist cap or novelty, "
        "exactly as the hybrid job would (recsys.blend.rerank)."
        if has_candidates
        else "This run has no user_candidates table to re-blend.",
        key="reblend",
    )
    if not live:
        if stored.empty:
            st.info("No stored recommendations for this user in this run.")
        return stored
    candidates = loaders.recommendations(root, run_id, names.USER_CANDIDATES, user_idx)
    if candidates.empty:
        st.info("No stored candidates for this user in this run.")
        return candidates
    settings = _hybrid_settings(root, run_id)
    stored_alpha = float(candidates[names.ALPHA].iloc[0])
    c1, c2, c3 = st.columns(3)
    alpha = c1.slider(
        "Alpha (collaborative weight)",
        0.0,
        1.0,
        round(stored_alpha, 2),
        0.05,
        help=f"The run used {stored_alpha:.3f} for this user.",
        key="alpha",
    )
    max_per_artist = c2.number_input(
        "Max songs per artist (0 = no cap)",
        min_value=0,
        max_value=50,
        value=int(settings.get("max_per_artist", 0) or 0),
        step=1,
        key="max_per_artist",
    )
    novelty = c3.slider(
        "Novelty", 0.0, 1.0, float(settings.get("novelty", 0.0) or 0.0), 0.05, key="novelty"
    )
    top_n = int(settings.get("top_n") or len(stored) or 20)
    # untouched, the slider stands for the user's stored alpha exactly (not its rounding)
    weight = None if alpha == round(stored_alpha, 2) else alpha
    # the run's own blend rules (older runs without these keys used the plain blend)
    gamma = float(settings.get("popularity_exponent", 0.0) or 0.0)
    cold_slots = int(settings.get("cold_slots", 0) or 0)
    w_item = float(settings.get("item_weight", 0.0) or 0.0)
    w_pop = float(settings.get("popularity_weight", 0.0) or 0.0)
    shown = rerank(
        candidates,
        alpha=weight,
        novelty=novelty,
        max_per_artist=int(max_per_artist),
        top_n=top_n,
        popularity_exponent=gamma,
        cold_slots=cold_slots,
        item_weight=w_item,
        popularity_weight=w_pop,
    )
    st.caption(
        f"Re-blended {len(candidates)} stored candidates: alpha {alpha:.2f}, "
        f"novelty {novelty:.2f}, max per artist {int(max_per_artist) or 'none'}; "
        f"collaborative score {1 - w_item - w_pop:.2f} ALS + {w_item:.2f} item-based + "
        f"{w_pop:.2f} popularity; content weighted by popularity^{gamma:g}, "
        f"{cold_slots} cold slot(s)."
    )
    return shown


def draw_recommendations(recs: pd.DataFrame) -> None:
    if recs.empty:
        return
    top = recs.iloc[0]
    st.markdown(f"Top pick: **{top[names.TITLE]}** by {top[names.ARTIST] or 'unknown artist'}")
    st.dataframe(
        recs.fillna({names.ARTIST: "unknown artist"}),
        hide_index=True,
        column_order=[c for c in SCORE_BARS if c in recs.columns],  # older runs: no item_score
        column_config=SCORE_BARS,
        key="recommendations",
    )


# ----------------------------------------------------------------------------- song page
def song_page(root: str, run_id: str) -> None:
    st.header("Similar songs")
    _require(root, run_id, names.SONGS)
    text = st.text_input(
        "Search artist or title",
        value=_query("song") or "",
        placeholder="e.g. radiohead",
        key="song_query",
    ).strip()
    if not text:
        st.info("Type part of an artist name or a song title (any case).")
        return
    found = loaders.search_songs(root, run_id, text)
    if found.empty:
        raise ViewerError(f"Unknown song: nothing in run {run_id!r} matches {text!r}.")
    if len(found) >= loaders.SEARCH_LIMIT:
        st.caption(f"Showing the first {loaders.SEARCH_LIMIT} matches; type more to narrow.")
    labels = {
        int(row[names.SONG]): f"{row[names.TITLE]} — {row[names.ARTIST] or 'unknown artist'}"
        for _, row in found.iterrows()
    }
    song_idx = st.selectbox("Song", list(labels), format_func=labels.get, key="song")
    song = loaders.song(root, run_id, int(song_idx))
    if song is None:
        raise ViewerError(f"Unknown song index {song_idx} in run {run_id!r}.")
    st.subheader(labels[int(song_idx)])
    st.caption(
        f"song id {song[names.SONG_ID]} · track {song[names.TRACK_ID]} · "
        f"{int(song['n_listeners']):,} listeners · {int(song['n_plays']):,} plays · "
        f"lyrics: {'yes' if song['has_lyrics'] else 'no'}"
    )
    _require(root, run_id, names.SIMILAR_SONGS)
    similar = loaders.similar_songs(root, run_id, int(song_idx))
    cold = bool(similar[names.IS_COLD].any()) if not similar.empty else song["n_listeners"] == 0
    if cold:
        st.warning("Cold song: nobody played it, so its similar songs come from its lyrics only.")
    if similar.empty:
        st.info("No similar songs were stored for this song.")
        return
    similar = similar.assign(match=similar[names.SOURCE].map(source_label))
    if similar[names.SOURCE].str.contains("coplay").any():
        st.caption(
            f"Listeners of {song[names.TITLE] or 'this song'} also played the songs found by "
            "co-plays (the item-based model)."
        )
    st.dataframe(
        similar.fillna({names.ARTIST: "unknown artist"}),
        hide_index=True,
        column_order=[
            names.RANK,
            names.TITLE,
            names.ARTIST,
            "match",
            names.SCORE,
            names.CF_SCORE,
            names.CONTENT_SCORE,
        ],
        column_config={**SCORE_BARS, "match": st.column_config.TextColumn("Found by")},
        key="similar",
    )


# ----------------------------------------------------------------------------- run page
RUN_TABS = ("Evaluation", "Quality report", "Manifest")


def run_page(root: str, run_id: str) -> None:
    st.header(f"Run {run_id}")
    draw_degradations(loaders.degradations(root, run_id))
    if loaders.has_document(root, run_id, names.MANIFEST):
        manifest = loaders.document(root, run_id, names.MANIFEST)
        if isinstance(manifest, dict):
            draw_comparison(manifest.get("comparison"))
    evaluation, quality, manifest = st.tabs(RUN_TABS)
    with evaluation:
        if loaders.has_table(root, run_id, names.METRICS):
            draw_metrics(loaders.metrics(root, run_id))
        else:
            st.info("This run has no metrics table.")
        if loaders.has_document(root, run_id, names.EVALUATION_JSON):
            with st.expander(names.EVALUATION_JSON):
                render_document(loaders.document(root, run_id, names.EVALUATION_JSON))
    for tab, name in ((quality, names.QUALITY_REPORT), (manifest, names.MANIFEST)):
        with tab:
            if loaders.has_document(root, run_id, name):
                render_document(loaders.document(root, run_id, name))
            else:
                st.info(f"This run has no {name}.")


def draw_degradations(sentences: list[str]) -> None:
    """What the run's inputs did not allow (a missing input, a signal no played song has)."""
    if sentences:
        st.warning(
            "This run did what its inputs allowed:\n\n" + "\n".join(f"- {s}" for s in sentences)
        )


def _scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _key_values(items: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"key": list(items), "value": [str(v) for v in items.values()]})


def render_document(doc: Any) -> None:
    """A JSON document drawn generically: key/values, tables for dicts of counts."""
    if not isinstance(doc, dict):
        st.json(doc)
        return
    scalars = {k: v for k, v in doc.items() if _scalar(v)}
    if scalars:
        st.dataframe(_key_values(scalars), hide_index=True)
    for key, value in doc.items():
        if _scalar(value):
            continue
        st.markdown(f"**{key}**")
        if isinstance(value, dict) and value and all(_scalar(v) for v in value.values()):
            st.dataframe(_key_values(value), hide_index=True)
        elif (
            isinstance(value, dict)
            and value
            and all(
                isinstance(v, dict) and all(_scalar(x) for x in v.values()) for v in value.values()
            )
        ):
            st.dataframe(pd.DataFrame.from_dict(value, orient="index").astype(str))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            st.dataframe(pd.DataFrame(value).astype(str), hide_index=True)
        elif isinstance(value, list) and all(_scalar(v) for v in value):
            st.write(", ".join(str(v) for v in value) or "(empty)")
        else:
            st.json(value, expanded=False)


def draw_metrics(metrics: pd.DataFrame) -> None:
    """The metrics table, a bar chart by model and K, and the alpha sweep if present."""
    if metrics.empty:
        st.info("The metrics table is empty.")
        return
    has_alpha = metrics[names.ALPHA].notna()
    main, sweep = metrics[~has_alpha], metrics[has_alpha]
    if not main.empty:
        table = main.assign(
            name=main["metric"] + "@" + main["k"].astype("Int64").astype(str)
        ).pivot_table(index="model", columns="name", values="value")
        st.dataframe(table.style.format("{:.4f}"), key="metrics_table")
        metric = st.selectbox("Metric", sorted(main["metric"].unique()), key="metric")
        chosen = main[main["metric"] == metric].assign(
            K="K=" + main["k"].astype("Int64").astype(str)
        )
        st.bar_chart(chosen, x="model", y="value", color="K", stack=False, y_label=metric)
    if not sweep.empty:
        st.markdown("**Alpha sweep** (hybrid at each collaborative weight)")
        curve = sweep.assign(
            name=sweep["model"]
            + " "
            + sweep["metric"]
            + "@"
            + sweep["k"].astype("Int64").astype(str)
        ).pivot_table(index=names.ALPHA, columns="name", values="value")
        st.line_chart(curve, x_label="alpha", y_label="value")
        st.dataframe(curve, key="alpha_sweep")


# ----------------------------------------------------------------------------- night over night
def _share(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def draw_comparison(comparison: Any) -> None:
    """Publish's night-over-night figures (recsys.evaluation.drift) against the last published
    run: churn of each user's top-k, first picks changed, songs entering or leaving every
    list, coverage before and after, the metrics' deltas."""
    if not isinstance(comparison, dict):
        st.caption("No night-over-night comparison: no published run came before this one.")
        return
    previous = comparison.get("previous_run")
    if comparison.get("skipped"):
        st.info(f"Not compared with run {previous}: {comparison['skipped']}.")
        return
    k = comparison.get("k")
    st.subheader(f"Against the last published run, {previous}")
    coverage = comparison.get("coverage") or {}
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        f"Top-{k} churn",
        _share(comparison.get("top_k_churn")),
        help=f"1 - mean Jaccard overlap of each user's top {k}, over "
        f"{comparison.get('users_compared', 0):,} users listed both nights",
    )
    c2.metric("First pick changed", _share(comparison.get("first_pick_changed_share")))
    c3.metric(
        "Songs entered / left all lists",
        f"{comparison.get('songs_entered', 0):,} / {comparison.get('songs_left', 0):,}",
    )
    now, before = coverage.get("current"), coverage.get("previous")
    c4.metric(
        "Catalogue coverage",
        _share(now),
        delta=None if now is None or before is None else f"{100 * (now - before):+.1f} pts",
    )
    st.caption(
        f"Users new tonight: {comparison.get('users_new', 0):,}; listed last night only: "
        f"{comparison.get('users_gone', 0):,}."
    )
    deltas = pd.DataFrame(comparison.get("metrics") or [])
    if not deltas.empty:
        st.dataframe(
            deltas,
            hide_index=True,
            column_config={
                "previous": st.column_config.NumberColumn(f"{previous}", format="%.4f"),
                "current": st.column_config.NumberColumn("this run", format="%.4f"),
                "delta": st.column_config.NumberColumn("change", format="%+.4f"),
            },
            key="metric_deltas",
        )


# ----------------------------------------------------------------------------- history page
HISTORY_MODELS = ("hybrid", "als", "itemknn", "content", "popularity")


def history_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The History table: one row per run, newest first, flat columns."""
    out = []
    for r in rows:
        row = {
            "open": f"?page=Run&run={r['run_id']}",
            "run": r["run_id"],
            "state": r["state"] + (" (pruned)" if r["pruned"] else ""),
            "why": r["why"],
            "created": r["created"],
            "triplet lines": r["triplet_lines"],
            "users": r["users"],
            "songs": r["songs"],
            "quarantined": r["quarantined_share"],
            "seconds": r["seconds"],
            "gate metric": r["gate_metric"],
        }
        for model in HISTORY_MODELS:
            row[model] = (r["metrics"] or {}).get(model)
        row["top-k churn"] = r["top_k_churn"]
        row["first pick changed"] = r["first_pick_changed_share"]
        row["songs entered"] = r["songs_entered"]
        row["songs left"] = r["songs_left"]
        row["code"] = r["code"]
        out.append(row)
    return pd.DataFrame(out)


def _open_run(run_id: str) -> None:
    """The History page's "Open" button: the Run page of that run (a widget callback, so the
    sidebar's widgets take the new values before they are drawn)."""
    st.session_state["page"] = "Run"
    st.session_state["run"] = run_id


def history_page(root: str, run_id: str) -> None:
    st.header("Run history")
    rows = loaders.history(root)
    if not rows:
        st.info("No runs yet.")
        return
    limit = loaders.HISTORY_LIMIT
    more = f" (the newest {limit})" if len(rows) >= limit else ""
    st.caption(f"{len(rows)} runs{more}, newest first. A pruned run keeps its reports.")
    frame = history_frame(rows)
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "open": st.column_config.LinkColumn("Open", display_text="open"),
            "quarantined": st.column_config.NumberColumn("quarantined", format="percent"),
            "top-k churn": st.column_config.NumberColumn(format="percent"),
            "first pick changed": st.column_config.NumberColumn(format="percent"),
            "seconds": st.column_config.NumberColumn(format="%.0f"),
            **{m: st.column_config.NumberColumn(format="%.4f") for m in HISTORY_MODELS},
        },
        key="history",
    )
    ids = frame["run"].tolist()
    c1, c2 = st.columns([3, 1])
    chosen = c1.selectbox(
        "Run to open", ids, index=ids.index(run_id) if run_id in ids else 0, key="history_run"
    )
    c2.button("Open run", on_click=_open_run, args=(chosen,), key="open_run")
    draw_trends(rows)


def draw_trends(rows: list[dict[str, Any]]) -> None:
    """Trend plots over the runs, oldest to newest: the gate metric per model, the steps'
    seconds, the input's size and the churn."""
    ordered = list(reversed(rows))
    if len(ordered) < 2:
        st.caption("Trends appear from the second run on.")
        return
    ids = [r["run_id"] for r in ordered]
    metric = rows[0]["gate_metric"]
    metrics = pd.DataFrame(
        [{m: (r["metrics"] or {}).get(m) for m in HISTORY_MODELS} for r in ordered], index=ids
    ).dropna(axis=1, how="all")
    st.markdown(f"**{metric} by model**")
    if not metrics.empty:
        st.line_chart(metrics, x_label="run", y_label=metric)
    steps = pd.DataFrame(
        [{s["step"]: s["seconds"] for s in r["steps"]} for r in ordered], index=ids
    ).dropna(axis=1, how="all")
    if not steps.empty:
        st.markdown("**Seconds per step**")
        st.area_chart(steps, x_label="run", y_label="seconds")
        shuffle = pd.DataFrame(
            [{s["step"]: s["shuffle_write_bytes"] for s in r["steps"]} for r in ordered],
            index=ids,
        ).dropna(axis=1, how="all")
        if not shuffle.empty:
            with st.expander("Shuffle bytes written per step"):
                st.dataframe(shuffle, key="history_shuffle")
    sizes = pd.DataFrame(
        [{"triplet lines": r["triplet_lines"], "users": r["users"]} for r in ordered], index=ids
    ).dropna(axis=1, how="all")
    if not sizes.empty:
        st.markdown("**Input size**")
        st.line_chart(sizes, x_label="run")
    churn = pd.DataFrame(
        [
            {"top-k churn": r["top_k_churn"], "first pick changed": r["first_pick_changed_share"]}
            for r in ordered
        ],
        index=ids,
    ).dropna(axis=1, how="all")
    if not churn.empty:
        st.markdown("**Night over night**")
        st.line_chart(churn, x_label="run", y_label="share of users")
