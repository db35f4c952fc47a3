"""The classic device shadow through IoT Core's data plane (boto3 `iot-data`): read it, update `desired`.

The data endpoint is GS_IOT_DATA_ENDPOINT, as for commands (gridshare.devices.iot.IotDataPublisher): on AWS
the account's ATS endpoint; locally moto, whose shadow store keeps the document and whose updates the local
stack also publishes to the broker (gridshare_local.shadow_bridge), as IoT Core does. Errors are translated
here: a missing shadow is an empty one, anything else the caller can only retry (503).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel import errors


class ShadowStore(Protocol):
    def get(self, thing_name: str) -> dict[str, Any]: ...

    def update_desired(self, thing_name: str, desired: dict[str, Any], version: int | None) -> dict[str, Any]: ...


class IotShadowStore:
    """The classic (unnamed) shadow of a thing."""

    def __init__(self) -> None:
        self._client: Any = None

    def _iot_data(self) -> Any:
        if self._client is None:
            from gridshare.devices.iot import iot_data_client

            self._client = iot_data_client("shadows cannot be read")
        return self._client

    def get(self, thing_name: str) -> dict[str, Any]:
        """The shadow document (`state`, `version`, ...), or {} when the thing has none yet."""
        try:
            result = self._iot_data().get_thing_shadow(thingName=thing_name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return {}
            raise errors.Unavailable("The device's shadow could not be read; try again.") from exc
        except BotoCoreError as exc:
            raise errors.Unavailable("The device's shadow could not be read; try again.") from exc
        document: dict[str, Any] = json.loads(result["payload"].read())
        return document

    def update_desired(self, thing_name: str, desired: dict[str, Any], version: int | None) -> dict[str, Any]:
        """Merge `desired` into the shadow, if it is still at `version` (None: no shadow yet); a shadow that
        changed meanwhile (another PUT, a device's report) is a Conflict: read it again and retry."""
        document: dict[str, Any] = {"state": {"desired": desired}}
        if version is not None:
            document["version"] = version
        try:
            result = self._iot_data().update_thing_shadow(thingName=thing_name, payload=json.dumps(document).encode())
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConflictException":
                raise errors.Conflict("The device's shadow changed meanwhile; send the configuration again.") from None
            raise errors.Unavailable("The device's shadow did not take the configuration; try again.") from exc
        except BotoCoreError as exc:
            raise errors.Unavailable("The device's shadow did not take the configuration; try again.") from exc
        document: dict[str, Any] = json.loads(result["payload"].read())
        return document
