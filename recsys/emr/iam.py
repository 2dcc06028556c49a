"""The IAM policies the EMR path needs: JSON files in ``emr/iam/``, one per principal.

The files are the single source: ``recsys emr iam --out DIR`` fills their ``${...}`` parts
from the config (buckets, account, roles) for ``aws iam create-policy``; the permission lists
in ``emr/README.md`` are generated from them (``recsys emr iam --readme``), and a test fails
when the README and the files disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.config import Config
from recsys.emr import templates

IAM_DIR = "iam"
README_BEGIN = "<!-- BEGIN iam: generated from emr/iam/*.json by `recsys emr iam --readme` -->"
README_END = "<!-- END iam -->"
_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


@dataclass(frozen=True)
class Principal:
    """One IAM principal and its policy file (and trust policy, for a role)."""

    name: str  # the file stem: emr/iam/<name>.json, emr/iam/<name>.trust.json
    title: str
    trusted_by: str | None  # the service that assumes the role; None for a person or CI
    same_as: str | None = None  # another principal whose policy this role gets too

    @property
    def policy_file(self) -> str:
        return f"{self.same_as or self.name}.json"

    @property
    def trust_file(self) -> str | None:
        return f"{self.name}.trust.json" if self.trusted_by else None


PRINCIPALS: tuple[Principal, ...] = (
    Principal("operator", "Who runs `recsys emr` (a person or CI)", None),
    Principal("nodes", "The cluster nodes (instance profile `emr.job_flow_role`)", None),
    Principal(
        "state-machine",
        "The state machine role (`emr.schedule.state_machine_role_arn`)",
        "states.amazonaws.com",
    ),
    Principal(
        "scheduler",
        "The scheduler role (`emr.schedule.scheduler_role_arn`)",
        "scheduler.amazonaws.com",
    ),
    Principal(
        "serverless-job",
        "The EMR Serverless job runtime role (`emr.serverless.execution_role_arn`)",
        "emr-serverless.amazonaws.com",
        same_as="nodes",
    ),
    Principal(
        "alerts-topic",
        "The alert topic's access policy (on `emr.schedule.alert_topic_arn`, not a role)",
        None,
    ),
)


class IamError(ValueError):
    """The policies cannot be filled from the config; the message names the key."""


def iam_dir(cfg: Config) -> Path:
    from recsys.emr.definitions import definitions_dir

    return definitions_dir(cfg) / IAM_DIR


def principal(name: str) -> Principal:
    for candidate in PRINCIPALS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no IAM principal {name!r}; they are {', '.join(p.name for p in PRINCIPALS)}")


def load_policy(cfg: Config, name: str, trust: bool = False) -> dict[str, Any]:
    """The template of one principal's policy (or trust policy), placeholders unfilled."""
    who = principal(name)
    file = who.trust_file if trust else who.policy_file
    if file is None:
        raise KeyError(f"{name} is not a role: it has no trust policy")
    return templates.load(iam_dir(cfg) / file)


def s3_arn(uri: str) -> str:
    """``s3://bucket/prefix/`` -> ``arn:aws:s3:::bucket/prefix``."""
    return "arn:aws:s3:::" + uri.split("://", 1)[1].rstrip("/")


def bucket_arn(uri: str) -> str:
    return "arn:aws:s3:::" + uri.split("://", 1)[1].split("/", 1)[0]


def account_id(cfg: Config) -> str:
    """The account of the schedule's roles (the first that is set)."""
    sched = cfg.emr.schedule
    for key in ("state_machine_role_arn", "scheduler_role_arn"):
        match = _ACCOUNT.match(getattr(sched, key) or "")
        if match:
            return match.group(1)
    raise IamError(
        "emr.schedule.state_machine_role_arn: needed (an IAM role ARN) to know the account "
        "the policies name"
    )


def values(cfg: Config) -> dict[str, str | None]:
    """What fills the ``${...}`` parts of the policy files (``None`` drops the resource, and a
    statement left without resources is dropped: no KMS statement without a key)."""
    emr, sched = cfg.emr, cfg.emr.schedule
    uris = {
        "code": emr.code_prefix,
        "log": emr.log_uri,
        "input": cfg.input.dir,
        "warehouse": cfg.warehouse.dir,
    }
    out = {
        "region": emr.region,
        "account": account_id(cfg),
        "service_role": emr.service_role,
        "job_flow_role": emr.job_flow_role,
        "state_machine_name": sched.state_machine_name,
        "state_machine_role_arn": str(sched.state_machine_role_arn),
        "scheduler_role_arn": str(sched.scheduler_role_arn),
        "s3_kms_key": emr.encryption.s3_kms_key,
        "alert_topic_arn": sched.alert_topic_arn,
        "serverless_role_arn": emr.serverless.execution_role_arn,
        "alert_rule_name": sched.alert_rule_name,
    }
    for name, uri in uris.items():
        out[f"{name}_arn"] = s3_arn(str(uri))
        out[f"{name}_bucket_arn"] = bucket_arn(str(uri))
    return out


def rendered(cfg: Config) -> dict[str, dict[str, Any]]:
    """Every policy file filled from ``cfg``, by file name."""
    filled = values(cfg)
    out: dict[str, dict[str, Any]] = {}
    for who in PRINCIPALS:
        for file in (who.policy_file, who.trust_file):
            if file and file not in out:
                policy = templates.render(
                    templates.load(iam_dir(cfg) / file), filled, f"emr/iam/{file}"
                )
                policy["Statement"] = [s for s in policy["Statement"] if s.get("Resource") != []]
                if policy["Statement"]:  # no alert topic: no topic policy
                    out[file] = policy
    return out


# --------------------------------------------------------------------------- README


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statement_line(statement: dict[str, Any]) -> str:
    actions = ", ".join(f"`{a}`" for a in _as_list(statement["Action"]))
    resources = ", ".join(f"`{r}`" for r in _as_list(statement["Resource"]))
    line = f"- {statement.get('Sid', '')}: {actions} on {resources}"
    if "Condition" in statement:
        conditions = [
            f"{key} {values}"
            for test in statement["Condition"].values()
            for key, values in test.items()
        ]
        line += f" (when {'; '.join(conditions)})"
    return line


def markdown(cfg: Config) -> str:
    """The README's permission lists, from the policy files (placeholders left as written)."""
    lines = [README_BEGIN, ""]
    for who in PRINCIPALS:
        trust = f", trusted by `{who.trusted_by}`" if who.trusted_by else ""
        files = f"`emr/iam/{who.policy_file}`" + (
            f" + `emr/iam/{who.trust_file}`" if who.trust_file else ""
        )
        lines.append(f"**{who.title}**{trust}: {files}")
        lines.append("")
        if who.same_as:
            lines.append(f"- the policy of {principal(who.same_as).title.lower()}, above")
        else:
            lines += [_statement_line(s) for s in load_policy(cfg, who.name)["Statement"]]
        lines.append("")
    lines.append(README_END)
    return "\n".join(lines)


def readme_section(text: str) -> str | None:
    """The generated section of a README's text, markers included (None when absent)."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        return None
    return text[start : end + len(README_END)]


def update_readme(cfg: Config, readme: Path) -> bool:
    """Rewrite the generated section of ``readme``; True when it changed."""
    text = readme.read_text(encoding="utf-8")
    current = readme_section(text)
    if current is None:
        raise IamError(f"{readme}: no section between {README_BEGIN!r} and {README_END!r}")
    fresh = markdown(cfg)
    if current == fresh:
        return False
    readme.write_text(text.replace(current, fresh), encoding="utf-8")
    return True
