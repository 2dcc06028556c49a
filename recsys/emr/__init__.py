"""Amazon EMR: package the pipeline, submit it, watch it, and schedule it nightly.

Everything that talks to AWS lives in this package; clients are made with
``boto3.client(service, region_name=cfg.emr.region)``, so ``AWS_ENDPOINT_URL`` (a local
stand-in in tests) redirects them without any change here.

- :mod:`recsys.emr.checks`: EMR-specific config validation, run before any AWS call.
- :mod:`recsys.emr.definitions`: the cluster, step, state machine and schedule requests
  (pure functions over the config and the templates in ``emr/``).
- :mod:`recsys.emr.package`: build the packed environment and code zip, upload a version.
- :mod:`recsys.emr.aws`: submit, wait, status, logs, schedule deploy/show/run/remove.
- :mod:`recsys.emr.serverless`: the same jobs as EMR Serverless job runs.
- :mod:`recsys.emr.alerts`: the EventBridge rule that tells an SNS topic of a failed night.
- :mod:`recsys.emr.iam`: the policies of ``emr/iam/``, filled from the config.
- :mod:`recsys.emr.cli`: the ``recsys emr ...`` subcommands.
"""
