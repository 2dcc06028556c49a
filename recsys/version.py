"""Which code a run ran: the package version and, where it can be told, the commit.

The commit comes from ``RECSYS_CODE_VERSION`` (set it where the code is deployed), else from
the config's own path when it was uploaded by ``recsys emr package`` (``.../code/<version>/
conf/<name>.yaml``, the version is the commit), else from ``git`` in a checkout of the
package, else ``"unknown"``. No network, no failure: a run never stops for want of it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from recsys import __version__

_UPLOADED = re.compile(r"/code/([^/]+)/conf/[^/]+$")


def code_version(conf_path: str | None = None) -> dict[str, str]:
    """``{"package": ..., "commit": ..., "source": ...}`` (source says where the commit came
    from: env, conf_path, git or unknown)."""
    env = os.environ.get("RECSYS_CODE_VERSION", "").strip()
    if env:
        return {"package": __version__, "commit": env, "source": "env"}
    found = _UPLOADED.search(conf_path or "")
    if found:
        return {"package": __version__, "commit": found.group(1), "source": "conf_path"}
    commit = _git_commit(Path(__file__).resolve().parent.parent)
    if commit:
        return {"package": __version__, "commit": commit, "source": "git"}
    return {"package": __version__, "commit": "unknown", "source": "unknown"}


def _git_commit(repo: Path) -> str | None:
    if not (repo / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    return done.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
