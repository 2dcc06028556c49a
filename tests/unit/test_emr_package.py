"""The packed environment (pip for CPython 3.11 manylinux, offline from local wheels), the code
zip, the bootstrap that installs nothing, and the interpreter check at the start of a job."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from recsys import config
from recsys import steps as pipeline
from recsys.emr import definitions, package
from recsys.steps import job
from tests.support import REPO

from .emr_helpers import package_files, task_states
from .emr_moto import fake_wheel_dir, make_wheel

EMR_CONF = REPO / "conf" / "emr.yaml"
PINS = package.cluster_requirements(REPO / "requirements.txt")


def emr_cfg(*overrides: str) -> config.Config:
    return config.load(str(EMR_CONF), list(overrides))


def members(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return tar.getnames()


def test_environment_holds_every_pin_and_imports_from_its_folder(tmp_path):
    archive = package.build_environment(PINS, fake_wheel_dir())
    names = members(archive)
    for pin in PINS:
        dist, version = pin.split("==")
        assert f"{dist}-{version}.dist-info/METADATA" in names, pin
    assert not [n for n in names if "__pycache__" in n or n.startswith("/")]
    assert package.build_environment(PINS, fake_wheel_dir()) == archive  # same wheels, same bytes
    # YARN unpacks it as ./environment; PYTHONPATH=./environment then finds the packages
    folder = tmp_path / "environment"
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")
    probe = "import numpy, yaml, pandas; print(numpy.__file__); print(yaml.__version__)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": "./environment"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0].startswith(str(folder)) or out[0].startswith("./environment")
    assert f"PyYAML=={out[1]}" in PINS


def test_environment_takes_only_cp311_manylinux_wheels(tmp_path):
    """A wheel for another Python or platform is refused, whatever runs the build."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for pin in PINS:
        dist, version = pin.split("==")
        path = make_wheel(wheels, dist, version, dist.lower())
        if dist == "numpy":  # only a CPython 3.9 build of numpy is on offer
            path.rename(wheels / f"numpy-{version}-cp39-cp39-manylinux2014_x86_64.whl")
    with pytest.raises(package.PackageError) as err:
        package.build_environment(PINS, wheels)
    assert "CPython 3.11 manylinux2014_x86_64" in str(err.value)
    assert f"wheels in {wheels}" in str(err.value) and "numpy" in str(err.value)
    # the tags it does take
    numpy_pin = next(p for p in PINS if p.startswith("numpy=="))
    version = numpy_pin.split("==")[1]
    (wheels / f"numpy-{version}-cp39-cp39-manylinux2014_x86_64.whl").rename(
        wheels / f"numpy-{version}-cp311-cp311-manylinux2014_x86_64.whl"
    )
    assert "numpy/__init__.py" in members(package.build_environment(PINS, wheels))


def test_package_build_is_complete_without_a_wheel_of_its_own():
    cfg = emr_cfg()
    files = package.build(cfg, EMR_CONF, "v1", wheel_dir=fake_wheel_dir())
    assert set(files) == package_files()
    assert not [name for name in files if name.endswith(".whl")]
    pins = files["requirements-emr.txt"].decode().split()
    assert pins == PINS
    assert not any(p.lower().startswith("pyspark") for p in pins)  # EMR provides Spark
    manifest = json.loads(files["manifest.json"])
    assert manifest["files"]["env.tar.gz"]["bytes"] == len(files["env.tar.gz"])


def test_code_zip_imports_the_pipeline_and_nothing_else(tmp_path):
    import zipfile

    files = package.build(emr_cfg(), EMR_CONF, "v1", wheel_dir=fake_wheel_dir())
    code = tmp_path / "recsys.zip"
    code.write_bytes(files["recsys.zip"])
    probe = (
        "import recsys, recsys.steps as p; print(recsys.__file__); print([s.name for s in p.STEPS])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(code)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(code))
    assert out[1] == str([s.name for s in pipeline.STEPS])
    names = zipfile.ZipFile(code).namelist()
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests", "sampledata"))]


# --------------------------------------------------------------------------- bootstrap

INSTALLS = re.compile(
    r"\b(pip3?(\.\d+)?\s+install|-m\s+pip|dnf\s+install|yum\s+install|curl|wget)\b"
)


def _python_stub(folder: Path, version: str) -> Path:
    stub = folder / "python3.11"
    stub.write_text(f'#!/bin/bash\necho "{version}"\n')
    stub.chmod(0o755)
    return stub


@pytest.mark.parametrize("version, code", [("3.11", 0), ("3.9", 1)])
def test_bootstrap_checks_the_interpreter_and_installs_nothing(tmp_path, version, code):
    script = (REPO / "emr" / "bootstrap.sh").read_text()
    commands = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert not INSTALLS.search(commands), "a bootstrap must not install from a package index"
    done = subprocess.run(
        ["bash", str(REPO / "emr" / "bootstrap.sh"), str(_python_stub(tmp_path, version))],
        capture_output=True,
        text=True,
    )
    assert done.returncode == code, done.stderr
    if code:
        assert f"is Python {version}" in done.stderr


def test_bootstrap_names_a_missing_interpreter(tmp_path):
    done = subprocess.run(
        ["bash", str(REPO / "emr" / "bootstrap.sh"), str(tmp_path / "python3.11")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert f"{tmp_path / 'python3.11'} not found" in done.stderr and "EMR 7.1" in done.stderr


@pytest.mark.parametrize("mode", ["fleets", "groups"])
def test_render_output_installs_nothing_and_ships_the_environment(tmp_path, capsys, mode):
    from recsys import cli

    out = tmp_path / "emr"
    args = ["emr", "render", "--conf", str(EMR_CONF), "--build-id", "b1", "--out", str(out)]
    assert cli.main([*args, "--set", f"emr.instance_mode={mode}"]) == 0, capsys.readouterr().err
    request = json.loads((out / "run-job-flow.json").read_text())
    for action in request["BootstrapActions"]:
        path = action["ScriptBootstrapAction"]["Path"]
        local = out / path.rsplit("/", 1)[1]  # render writes the script as uploaded
        commands = [
            line for line in local.read_text().splitlines() if not line.lstrip().startswith("#")
        ]
        assert not INSTALLS.search("\n".join(commands)), path
        assert not [a for a in action["ScriptBootstrapAction"]["Args"] if a.endswith(".whl")]
    serverless_asl = json.loads((out / "state-machine-serverless.asl.json").read_text())
    assert all(s["TimeoutSeconds"] > 0 for s in task_states(serverless_asl).values())
    for step in request["Steps"]:
        args = step["HadoopJarStep"]["Args"]
        assert (
            args[args.index("--archives") + 1]
            == f"{definitions.layout_for(emr_cfg(), 'b1').root}/env.tar.gz#environment"
        )
        assert "spark.pyspark.python=/usr/bin/python3.11" in args


# --------------------------------------------------------------------------- job start


def test_interpreter_check_names_the_interpreter_found():
    assert job.interpreter_problem((3, 11, 4)) is None
    assert job.interpreter_problem((3, 12, 0)) is None
    problem = job.interpreter_problem((3, 9, 16))
    assert "Python 3.9.16" in problem and sys.executable in problem and "python3.11" in problem


def test_a_job_on_the_wrong_interpreter_stops_before_spark(monkeypatch, capsys):
    monkeypatch.setattr(job, "MIN_PYTHON", (3, 99))
    import recsys.session

    def no_session(cfg):
        raise AssertionError("a session was built on the wrong interpreter")

    monkeypatch.setattr(recsys.session, "build_session", no_session)
    code = job.run_job("ingest", ["--run-id", "r1"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"Python {sys.version.split()[0]}" in err and "need 3.99" in err
