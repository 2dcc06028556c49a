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
    head = _git(repo, "rev-parse", "--short=12", "HEAD")
    if not head:
        return None
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return head + ("-dirty" if dirty else "")


def _git(repo: Path, *args: str) -> str | None:
    """``git -C repo args`` stripped output, or None when git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
