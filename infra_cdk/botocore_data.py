"""botocore's service data as a deployment ships it: the services the functions use, minified, without
documentation (decision 0036).

A process's first client of a service makes botocore read that service's model (`service-2.json.gz`) and
endpoint rules (`endpoint-rule-set-1.json.gz`); its first client of any service reads the partitions
(`endpoints.json`). pip installs them indented, and the models carry every operation's and shape's
documentation (the HTML of the SDK's reference): S3's model is 1.4 MB of JSON and its rules 0.9 MB. A client
uses neither the documentation nor the whitespace, yet a cold start parses both, and every container it
builds is one more object for the collector to walk.

The functions create clients of a few services (`LAYER_SERVICES`), yet botocore lists every service
directory of its data (~420, each with its API versions) the first time a process loads a model: the layer
keeps only those services' directories. A test fails when the code names a service this set lacks.

`slim(source, target)` writes each of those files of `source` (a botocore `data` directory) to the same
relative path under `target`: the same JSON, minified, with every `documentation` string of a model emptied
(the key stays: botocore reads some, e.g. a client context parameter's). Nothing else differs: the shapes,
operations, rules and partitions are equal, which tests/infra/test_botocore_data.py checks.

`prepare_layer_data` prunes and slims the layer's botocore data in place when it is staged
(`infra_cdk.constructs.shared.stage_layer`); the cold-start bench gives its entries a copy of botocore
prepared the same way.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

__all__ = ["LAYER_SERVICES", "blank_documentation", "prepare_layer_data", "slim"]

_MODEL = "service-2.json.gz"

LAYER_SERVICES = frozenset(
    {
        # what the functions create clients of (tests/infra/test_botocore_data.py reads the code for them)
        "apigatewaymanagementapi",
        "cognito-idp",
        "dynamodb",
        "events",
        "iot",
        "iot-data",
        "kms",
        "s3",
        "scheduler",
        "secretsmanager",
        "ses",
        "sns",
        "sqs",
        "stepfunctions",
        "timestream-write",
        # what botocore's credential providers may call (assumed roles, SSO profiles)
        "sso",
        "sso-oidc",
        "sts",
    }
)


def blank_documentation(value: Any) -> Any:
    """`value` (a service model, or part of one) with every `documentation` string emptied."""
    if isinstance(value, dict):
        return {
            key: "" if key == "documentation" and isinstance(item, str) else blank_documentation(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [blank_documentation(item) for item in value]
    return value


def _minified(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def prepare_layer_data(data: Path) -> int:
    """Keep only `LAYER_SERVICES` of botocore's `data` directory and slim what is kept, in place; returns how
    many files were rewritten."""
    for path in data.iterdir():
        if path.is_dir() and path.name not in LAYER_SERVICES:
            shutil.rmtree(path)
    return slim(data, data)


def slim(source: Path, target: Path) -> int:
    """Write the slimmed data files of botocore's `source` data directory under `target` (which may be
    `source` itself); returns how many files were written."""
    written = 0
    for path in sorted(source.glob("*.json")):  # the partitions and the SDK's defaults
        document = json.loads(path.read_bytes())
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(_minified(document))
        written += 1
    for path in sorted(source.glob("*/*/*.json.gz")):  # <service>/<api version>/: models and endpoint rules
        document = json.loads(gzip.decompress(path.read_bytes()))
        if path.name == _MODEL:
            document = blank_documentation(document)
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(gzip.compress(_minified(document), compresslevel=6, mtime=0))
        written += 1
    return written
