"""Encryption at rest and in transit: the EMR security configuration ``emr.encryption``
describes (created by ``recsys emr security-configuration --create``)."""

from __future__ import annotations

from typing import Any

from recsys.config import Config


def security_configuration(cfg: Config) -> dict[str, Any]:
    """The EMR security configuration document ``emr.encryption`` describes: S3 with SSE-KMS
    (``s3_kms_key``, else SSE-S3), local disks and EBS with ``local_disk_kms_key`` when given,
    TLS between nodes with the PEM zip at ``tls_certificates_uri`` when given."""
    enc = cfg.emr.encryption
    s3: dict[str, Any] = (
        {"EncryptionMode": "SSE-KMS", "AwsKmsKey": enc.s3_kms_key}
        if enc.s3_kms_key
        else {"EncryptionMode": "SSE-S3"}
    )
    at_rest: dict[str, Any] = {"S3EncryptionConfiguration": s3}
    if enc.local_disk_kms_key:
        at_rest["LocalDiskEncryptionConfiguration"] = {
            "EncryptionKeyProviderType": "AwsKms",
            "AwsKmsKey": enc.local_disk_kms_key,
            "EnableEbsEncryption": True,
        }
    doc: dict[str, Any] = {
        "EnableAtRestEncryption": True,
        "EnableInTransitEncryption": bool(enc.tls_certificates_uri),
        "AtRestEncryptionConfiguration": at_rest,
    }
    if enc.tls_certificates_uri:
        doc["InTransitEncryptionConfiguration"] = {
            "TLSCertificateConfiguration": {
                "CertificateProviderType": "PEM",
                "S3Object": enc.tls_certificates_uri,
            }
        }
    return {"EncryptionConfiguration": doc}
