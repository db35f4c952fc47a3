"""The local WebSocket API: API Gateway's WebSocket routes and its @connections endpoint, on loopback.

`ws://127.0.0.1:$GS_WS_PORT` (8001) accepts WebSocket clients as API Gateway would and calls the same Lambda
handler (functions.notifications.websocket.handler) with API Gateway-shaped events: `$connect` during the
handshake (a non-2xx answer refuses it with that status, as API Gateway does), `$default` per message,
`$disconnect` when the socket closes. The handler answers clients through the management API, which botocore
reaches at GS_WS_MANAGEMENT_ENDPOINT: a small HTTP server with `POST/GET/DELETE /@connections/{id}` (410 Gone
for a connection that is not open). Never deployed (the `websockets` library is local-only).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from gridshare_local.lambda_runtime import LambdaContext, load_handler

logger = logging.getLogger("gridshare.local.websocket")
HANDLER = "functions.notifications.websocket.handler"
STAGE = "local"
SEND_TIMEOUT_S = 5
# How often the management server checks for `stop` (http.server polls every 0.5 s, which `stop` then waits).
SHUTDOWN_POLL_S = 0.05


def _now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def _connection_id() -> str:
    return secrets.token_urlsafe(12)  # API Gateway's ids look like "L0SM9cOFvHcCIhw="


class LocalWebSocketApi:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 8001, management_port: int = 0, handler: str = HANDLER
    ) -> None:
        self.host, self.port, self.management_port = host, port, management_port
        self.handler_path = handler
        self._handler: Callable[[dict[str, Any], Any], Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ids: dict[int, str] = {}  # id(ServerConnection) -> connection id, from the handshake on
        self.connections: dict[str, ServerConnection] = {}
        self.connected_at: dict[str, int] = {}
        self._management: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def management_url(self) -> str:
        assert self._management is not None
        return f"http://{self.host}:{self._management.server_address[1]}"

    def start(self) -> None:
        self._handler = load_handler(self.handler_path)
        self._management = ThreadingHTTPServer((self.host, self.management_port), _management_handler(self))
        self._management.daemon_threads = True
        management = functools.partial(self._management.serve_forever, poll_interval=SHUTDOWN_POLL_S)
        threading.Thread(target=management, name="ws-management", daemon=True).start()
        self._thread = threading.Thread(target=self._run, name="ws-api", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._management is not None:
            self._management.shutdown()
            self._management.server_close()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve_forever())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve_forever(self) -> None:
        async with serve(self._session, self.host, self.port, process_request=self._connect) as server:
            self._server = server
            self._ready.set()
            await server.wait_closed()

    # ------------------------------------------------------------ the routes
    def _event(self, route: str, connection_id: str, body: str | None = None, **extra: Any) -> dict[str, Any]:
        kind = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
        return {
            "requestContext": {
                "routeKey": route,
                "eventType": kind,
                "connectionId": connection_id,
                "domainName": f"{self.host}:{self.port}",
                "stage": STAGE,
                "apiId": "local",
                "requestId": str(uuid.uuid4()),
                "connectedAt": self.connected_at.get(connection_id, _now_ms()),
                "requestTimeEpoch": _now_ms(),
            },
            "isBase64Encoded": False,
            **({"body": body} if body is not None else {}),
            **extra,
        }

    async def _invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self._handler is not None
        handler = self._handler

        def call() -> dict[str, Any]:
            try:
                return dict(handler(event, LambdaContext("notifications-websocket")) or {"statusCode": 200})
            except Exception:
                logger.exception("websocket handler failed on %s", event["requestContext"]["routeKey"])
                return {"statusCode": 500}

        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def _connect(self, connection: ServerConnection, request: Request) -> Response | None:
        connection_id = _connection_id()
        query = dict(parse_qsl(urlsplit(request.path).query))
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        self.connected_at[connection_id] = _now_ms()
        answer = await self._invoke(
            self._event("$connect", connection_id, queryStringParameters=query or None, headers=headers)
        )
        status = int(answer.get("statusCode", 200))
        if not 200 <= status < 300:
            self.connected_at.pop(connection_id, None)
            return connection.respond(status, str(answer.get("body") or "Forbidden"))
        self._ids[id(connection)] = connection_id
        return None

    async def _session(self, connection: ServerConnection) -> None:
        connection_id = self._ids.pop(id(connection))
        self.connections[connection_id] = connection
        try:
            async for message in connection:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                await self._invoke(self._event("$default", connection_id, text))
        except ConnectionClosed:
            pass
        finally:
            self.connections.pop(connection_id, None)
            await self._invoke(self._event("$disconnect", connection_id))
            self.connected_at.pop(connection_id, None)

    # ------------------------------------------------------------ @connections
    def post(self, connection_id: str, data: bytes) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None or self._loop is None:
            return False
        text = data.decode("utf-8", "replace")
        try:
            asyncio.run_coroutine_threadsafe(connection.send(text), self._loop).result(SEND_TIMEOUT_S)
        except ConnectionClosed:
            return False
        return True

    def close(self, connection_id: str) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None or self._loop is None:
            return False
        asyncio.run_coroutine_threadsafe(connection.close(1000, "closed by the server"), self._loop).result(
            SEND_TIMEOUT_S
        )
        return True


def _management_handler(api: LocalWebSocketApi) -> type[BaseHTTPRequestHandler]:
    class ManagementHandler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _connection_id(self) -> str | None:
            parts = urlsplit(self.path).path.strip("/").split("/")
            return parts[-1] if len(parts) >= 2 and parts[-2] == "@connections" else None

        def _answer(self, status: int, body: dict[str, Any] | None = None, error: str | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _gone(self) -> None:
            self._answer(410, {"message": "The connection is gone."}, error="GoneException")

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            connection_id = self._connection_id()
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if connection_id is None:
                self._answer(404, {"message": "Not found"}, error="NotFoundException")
            elif len(data) > 128 * 1024:
                self._answer(413, {"message": "Payload too large"}, error="PayloadTooLargeException")
            elif api.post(connection_id, data):
                self._answer(200)
            else:
                self._gone()

        def do_GET(self) -> None:  # noqa: N802
            connection_id = self._connection_id()
            if connection_id is None or connection_id not in api.connections:
                self._gone()
                return
            connection = api.connections[connection_id]
            at = datetime.fromtimestamp(api.connected_at.get(connection_id, _now_ms()) / 1000, tz=UTC).isoformat()
            remote = connection.remote_address[0] if connection.remote_address else None
            self._answer(200, {"connectedAt": at, "lastActiveAt": at, "identity": {"sourceIp": remote}})

        def do_DELETE(self) -> None:  # noqa: N802
            connection_id = self._connection_id()
            if connection_id is not None and api.close(connection_id):
                self._answer(204)
            else:
                self._gone()

    return ManagementHandler
