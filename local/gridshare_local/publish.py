"""`gridshare publish`: one message from a device, by hand, as its firmware would send it.

The device is the answer of `POST /v1/devices` saved to a file (`curl ... > device.json`). Its credentials
are kept under `<state dir>/devices/<thingName>/` (the key owner-only), with the last `seq` it published,
so the next publish continues it: the backend stores a `(seq, ts)` once and dead-letters a reused `seq`.
The connection is the AWS IoT Device SDK's (MQTT 5 over mutual TLS), the same as every simulated device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gridshare_local.cli_errors import EXIT_USAGE, CliError

SEQ_FILE = "last-seq"
TOPICS = ("telemetry", "heartbeat", "commands/ack")


def read_device(path: Path) -> dict[str, Any]:
    """The `data` of a saved `POST /v1/devices` answer (the whole answer or only its `data`)."""
    try:
        answer = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    except ValueError as exc:
        raise CliError(f"{path} is not JSON ({exc}): save the answer of POST /v1/devices to it", EXIT_USAGE) from None
    device = answer.get("data", answer) if isinstance(answer, dict) else None
    missing = [
        key
        for key in ("thingName", "certificatePem", "caCertificatePem", "mqtt", "topics")
        if not isinstance(device, dict) or key not in device
    ]
    if missing:
        raise CliError(f"{path} is not a POST /v1/devices answer: no {', '.join(missing)}", EXIT_USAGE)
    assert isinstance(device, dict)
    return device


def message(metrics: dict[str, Any], seq: int, ts: int) -> dict[str, Any]:
    return {"ts": ts, "seq": seq, "metrics": metrics}


def publish(
    device_file: Path,
    *,
    state: Path,
    api: str,
    metrics: dict[str, Any] | None = None,
    raw: str | None = None,
    seq: int | None = None,
    topic: str = "telemetry",
    key_file: Path | None = None,
    out: Any,
) -> int:
    """Publish one message; 0 when the broker acknowledged it, else a CliError naming the reason code."""
    from gridshare_local.device_client import DeviceConnection, StackClock, write_credentials

    device = read_device(device_file)
    thing = device["thingName"]
    home = state / "devices" / thing
    key_pem = key_file.read_text() if key_file is not None else None
    if key_pem is None and "privateKey" not in device and not (home / f"{thing}.key").exists():
        raise CliError(f"{device_file} has no privateKey (the device sent a CSR): give its key with --key", EXIT_USAGE)
    if key_pem is not None or "privateKey" in device or not (home / f"{thing}.crt").exists():
        files = write_credentials(device, home, key_pem)
    else:
        files = (home / f"{thing}.crt", home / f"{thing}.key", home / "ca.crt")
    seq_file = home / SEQ_FILE
    if raw is not None:
        payload: dict[str, Any] | str = raw
        used_seq = None
    else:
        used_seq = seq if seq is not None else (int(seq_file.read_text()) + 1 if seq_file.exists() else 1)
        payload = message(metrics or {}, used_seq, StackClock(api).now_ms())
    target = f"gs/v1/{thing}/{topic}"
    connection = DeviceConnection(device, None, files=files)
    try:
        connection.connect()
    except Exception as exc:
        host, port = device["mqtt"]["host"], device["mqtt"]["port"]
        raise CliError(
            f"device {thing} could not connect to {host}:{port} ({str(exc) or type(exc).__name__}): "
            "is the stack running (`make up`) and the device still known to it?"
        ) from None
    try:
        code = connection.publish(target, payload)
    finally:
        connection.close()
    if int(code) >= 128:
        raise CliError(f"the broker refused the message on {target}: {code.name} (the device policy)")
    if used_seq is not None:
        seq_file.write_text(str(used_seq))
    shown = payload if isinstance(payload, str) else json.dumps(payload)
    out.write(f"published to {target}: {shown}\n")
    return 0
