"""Everything under tests/integration runs real steps, jobs or pipelines: mark it so.

``./test.sh -m "not integration"`` then runs the unit tests alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
