"""The date a run stands for, and ``input.dir`` templates that name it.

A nightly run's id is its date (``2026-11-24``, or ``2026-11-24-a2`` for a second attempt);
a local run's is ``local-20261124-013000``. ``input.dir`` may name the date, so that each
night reads its own drop of raw files: ``s3://bucket/raw/{date}/`` (``{date}`` is
``YYYY-MM-DD``; ``{yyyymmdd}`` and ``{run_id}`` also work).
"""

from __future__ import annotations

import datetime as dt
import re
import string

from recsys.errors import ConfigError

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
PLACEHOLDERS = ("date", "yyyymmdd", "run_id")


def run_date(run_id: str) -> dt.date | None:
    """The first date in the run id (``YYYY-MM-DD``, else ``YYYYMMDD``), or None."""
    for pattern in (_ISO, _COMPACT):
        for found in pattern.finditer(run_id):
            try:
                return dt.date(*(int(g) for g in found.groups()))
            except ValueError:
                continue
    return None


def placeholders(template: str, key: str = "input.dir") -> list[str]:
    """The ``{names}`` of ``template``; a ConfigError naming ``key`` for an unknown one."""
    try:
        found = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{key}: {template!r} is not a valid template ({exc})") from None
    unknown = sorted(set(found) - set(PLACEHOLDERS))
    if unknown:
        raise ConfigError(
            f"{key}: {template!r} names {', '.join('{' + u + '}' for u in unknown)}; "
            f"it may name {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )
    return found


def input_dir(template: str, run_id: str, key: str = "input.dir") -> str:
    """``template`` with the run's date and id filled in (unchanged when it names neither)."""
    found = placeholders(template, key)
    if not found:
        return template
    date = run_date(run_id)
    if date is None and ({"date", "yyyymmdd"} & set(found)):
        raise ConfigError(
            f"{key}: {template!r} names the run date, but run id {run_id!r} carries no date "
            "(use a run id such as 2026-11-24, or set input.dir to a fixed folder)"
        )
    return template.format(
        date=date.isoformat() if date else "",
        yyyymmdd=date.strftime("%Y%m%d") if date else "",
        run_id=run_id,
    )
