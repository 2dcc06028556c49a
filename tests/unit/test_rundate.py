"""input.dir may name the run's date (recsys.rundate)."""

import datetime as dt

import pytest

from recsys.errors import ConfigError
from recsys.rundate import input_dir, run_date
from tests.support import make_config


@pytest.mark.parametrize(
    ("run_id", "date"),
    [
        ("2026-11-24", dt.date(2026, 11, 24)),
        ("2026-11-24-a2", dt.date(2026, 11, 24)),
        ("local-20261201-094440", dt.date(2026, 12, 1)),
        ("nightly-2026-02-30-x", None),  # not a date
        ("local-001", None),
    ],
)
def test_run_date(run_id, date):
    assert run_date(run_id) == date


def test_input_dir_names_the_date_the_compact_date_or_the_run():
    assert input_dir("s3://b/raw/{date}/", "2026-11-24-a2") == "s3://b/raw/2026-11-24/"
    assert input_dir("/raw/{yyyymmdd}", "local-20261201-0944") == "/raw/20261201"
    assert input_dir("/raw/{run_id}", "local-001") == "/raw/local-001"
    assert input_dir("/raw/fixed", "anything") == "/raw/fixed"


def test_a_date_template_needs_a_dated_run_id():
    with pytest.raises(ConfigError, match=r"input.dir: .* run id 'local-001' carries no date"):
        input_dir("/raw/{date}", "local-001")


def test_unknown_placeholders_are_refused_when_the_config_loads(tmp_path):
    with pytest.raises(ConfigError, match=r"input.dir: '/raw/\{day\}' names \{day\}"):
        make_config(tmp_path, "input.dir=/raw/{day}")
    with pytest.raises(ConfigError, match="input.dir: .* not a valid template"):
        make_config(tmp_path, "input.dir=/raw/{date")
    assert make_config(tmp_path, "input.dir=/raw/{date}").input.dir_for("2026-11-24") == (
        "/raw/2026-11-24"
    )
