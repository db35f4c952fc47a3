"""What a Lambda entry prints, read back: Powertools JSON log lines and EMF metric documents.

Entries log to stdout (gridshare.kernel.observability), as on Lambda; tests capture it with capsys.
"""

from __future__ import annotations

import json
from typing import Any


def json_documents(stdout: str) -> list[dict[str, Any]]:
    """Every line of `stdout` that is a JSON object (other output is skipped)."""
    documents = []
    for line in stdout.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            documents.append(value)
    return documents


def log_lines(stdout: str, message: str | None = None) -> list[dict[str, Any]]:
    """The JSON log lines (those with a level and a message), optionally only those with `message`."""
    return [
        d
        for d in json_documents(stdout)
        if "level" in d and "message" in d and (message is None or d["message"] == message)
    ]


def metric_documents(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric-format documents (those with an `_aws` key)."""
    return [d for d in json_documents(stdout) if "_aws" in d]
