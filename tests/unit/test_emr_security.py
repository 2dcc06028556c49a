"""Encryption: the security configuration on RunJobFlow, SSE-KMS on EMRFS and on the uploads."""

from __future__ import annotations

import json

import pytest

from recsys import config
from recsys.emr import checks, definitions, iam, security, shapes
from tests.support import REPO

from . import emr_moto
from .emr_moto import BUCKET, client, run_cli

moto_endpoint, aws, recorder = emr_moto.moto_endpoint, emr_moto.aws, emr_moto.recorder
EMR_CONF = str(REPO / "conf" / "emr.yaml")
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DISK_KEY = "arn:aws:kms:us-east-1:123456789012:alias/recsys-disks"


def emr_cfg(*overrides: str) -> config.Config:
    return config.load(EMR_CONF, list(overrides))


def _emrfs(cfg) -> dict:
    configs = definitions.configurations(cfg)
    return next(c for c in configs if c["Classification"] == "emrfs-site")["Properties"]


@pytest.mark.parametrize("mode", ["fleets", "groups"])
def test_cluster_names_the_security_configuration_from_config(mode):
    layout = definitions.layout_for(emr_cfg(), "v1")
    plain = definitions.transient_cluster_request(emr_cfg(f"emr.instance_mode={mode}"), layout, "r")
    assert "SecurityConfiguration" not in plain
    cfg = emr_cfg(f"emr.instance_mode={mode}", "emr.encryption.security_configuration=recsys-enc")
    request = definitions.transient_cluster_request(cfg, layout, "r")
    assert request["SecurityConfiguration"] == "recsys-enc"
    shapes.check_request("emr", "RunJobFlow", request)
    asl = definitions.state_machine_definition(cfg, layout)
    assert asl["States"]["Create cluster"]["Parameters"]["SecurityConfiguration"] == "recsys-enc"


def test_emrfs_writes_with_sse_kms_only_when_a_key_is_given():
    assert "fs.s3.enableServerSideEncryption" not in _emrfs(emr_cfg())
    props = _emrfs(emr_cfg(f"emr.encryption.s3_kms_key={KEY}"))
    assert props["fs.s3.enableServerSideEncryption"] == "true"
    assert props["fs.s3.serverSideEncryption.kms.keyId"] == KEY
    assert props["fs.s3.maxConnections"] == "200"  # the template's own settings stay


def test_security_configuration_document_follows_the_config():
    plain = security.security_configuration(emr_cfg())["EncryptionConfiguration"]
    assert plain["EnableAtRestEncryption"] is True
    assert plain["EnableInTransitEncryption"] is False
    assert plain["AtRestEncryptionConfiguration"] == {
        "S3EncryptionConfiguration": {"EncryptionMode": "SSE-S3"}
    }
    full = security.security_configuration(
        emr_cfg(
            f"emr.encryption.s3_kms_key={KEY}",
            f"emr.encryption.local_disk_kms_key={DISK_KEY}",
            "emr.encryption.tls_certificates_uri=s3://my-recsys-bucket/certs/pem.zip",
        )
    )["EncryptionConfiguration"]
    at_rest = full["AtRestEncryptionConfiguration"]
    assert at_rest["S3EncryptionConfiguration"] == {"EncryptionMode": "SSE-KMS", "AwsKmsKey": KEY}
    assert at_rest["LocalDiskEncryptionConfiguration"] == {
        "EncryptionKeyProviderType": "AwsKms",
        "AwsKmsKey": DISK_KEY,
        "EnableEbsEncryption": True,
    }
    assert full["EnableInTransitEncryption"] is True
    assert full["InTransitEncryptionConfiguration"]["TLSCertificateConfiguration"] == {
        "CertificateProviderType": "PEM",
        "S3Object": "s3://my-recsys-bucket/certs/pem.zip",
    }


@pytest.mark.parametrize(
    "override, expected",
    [
        ("emr.encryption.s3_kms_key=1234abcd", "emr.encryption.s3_kms_key: '1234abcd'"),
        ("emr.encryption.local_disk_kms_key=alias/x", "emr.encryption.local_disk_kms_key"),
        ("emr.encryption.tls_certificates_uri=/tmp/pem.zip", "emr.encryption.tls_certificates_uri"),
        ("emr.encryption.security_configuration=a b", "emr.encryption.security_configuration"),
    ],
)
def test_bad_encryption_config_names_the_key(override, expected):
    with pytest.raises(checks.EmrConfigError) as err:
        checks.validate(emr_cfg(override))
    assert expected in str(err.value)


def test_kms_statements_only_with_a_key():
    without = iam.rendered(emr_cfg())
    assert "kms:" not in json.dumps(without["nodes.json"])
    with_key = iam.rendered(emr_cfg(f"emr.encryption.s3_kms_key={KEY}"))
    statement = next(s for s in with_key["nodes.json"]["Statement"] if s["Sid"] == "SseKmsKey")
    assert statement["Resource"] == [KEY]
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(statement["Action"])


# --------------------------------------------------------------------------- over moto


def test_security_configuration_create_is_idempotent_and_refuses_a_change(aws, capsys):
    name = "emr.encryption.security_configuration=recsys-enc"
    key = f"emr.encryption.s3_kms_key={KEY}"
    args = ["security-configuration", "--conf", EMR_CONF, "--create", "--set", name]
    code, out, err = run_cli(capsys, *args, "--set", key)
    assert code == 0, err
    assert "security configuration recsys-enc: created" in out
    got = client("emr").describe_security_configuration(Name="recsys-enc")
    assert json.loads(got["SecurityConfiguration"]) == security.security_configuration(
        emr_cfg(name, key)
    )
    code, out, _ = run_cli(capsys, *args, "--set", key)
    assert code == 0 and "already there" in out
    code, _, err = run_cli(capsys, *args)  # SSE-S3 now: another document under the same name
    assert code == 1 and "cannot be updated" in err and "new name" in err


def test_security_configuration_create_needs_a_name(recorder, capsys):
    code, _, err = run_cli(capsys, "security-configuration", "--conf", EMR_CONF, "--create")
    assert code == 2 and "emr.encryption.security_configuration: missing" in err
    assert recorder == []


def test_submitted_cluster_uses_the_security_configuration(aws, capsys):
    sets = ["--set", "emr.encryption.security_configuration=recsys-enc"]
    assert run_cli(capsys, "security-configuration", "--conf", EMR_CONF, "--create", *sets)[0] == 0
    assert run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", "b-sec")[0] == 0
    code, out, err = run_cli(
        capsys, "submit", "--conf", EMR_CONF, "--build-id", "b-sec", "--run-id", "r1", *sets
    )
    assert code == 0, err
    cluster_id = out.split("\n")[0].split()[-1]
    cluster = client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["SecurityConfiguration"] == "recsys-enc"


def test_package_uploads_with_sse_kms_under_the_configured_key(aws, capsys):
    key = client("kms").create_key(Description="recsys")["KeyMetadata"]["Arn"]
    code, _, err = run_cli(
        capsys,
        "package",
        "--conf",
        EMR_CONF,
        "--build-id",
        "b-kms",
        "--set",
        f"emr.encryption.s3_kms_key={key}",
    )
    assert code == 0, err
    keys = [
        o["Key"]
        for o in client("s3").list_objects_v2(Bucket=BUCKET, Prefix="code/b-kms/")["Contents"]
    ]
    assert keys
    for name in keys:
        head = client("s3").head_object(Bucket=BUCKET, Key=name)
        assert head["ServerSideEncryption"] == "aws:kms", name
        assert head["SSEKMSKeyId"] == key, name
