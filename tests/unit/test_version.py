"""Where the run's code version comes from."""

from recsys import __version__
from recsys.version import code_version


def test_the_environment_wins(monkeypatch):
    monkeypatch.setenv("RECSYS_CODE_VERSION", "f00ba12")
    assert code_version("s3://b/code/abc/conf/emr.yaml") == {
        "package": __version__,
        "commit": "f00ba12",
        "source": "env",
    }


def test_an_uploaded_configs_path_names_the_commit(monkeypatch):
    monkeypatch.delenv("RECSYS_CODE_VERSION", raising=False)
    got = code_version("s3://bucket/recsys/code/1a2b3c4/conf/emr.yaml")
    assert (got["commit"], got["source"]) == ("1a2b3c4", "conf_path")


def test_a_checkout_gives_its_git_commit_and_nothing_gives_unknown(monkeypatch, tmp_path):
    monkeypatch.delenv("RECSYS_CODE_VERSION", raising=False)
    got = code_version("conf/local.yaml")
    assert got["source"] in ("git", "unknown")  # a clean tree, a dirty one, or no .git
    if got["source"] == "git":
        assert len(got["commit"].split("-")[0]) == 12
    import recsys.version as version

    monkeypatch.setattr(version, "_git_commit", lambda repo: None)
    assert code_version(None)["commit"] == "unknown"
