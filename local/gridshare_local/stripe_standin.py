"""A Stripe stand-in for the local stack: the subset of the Stripe API the platform uses, with signed
webhooks delivered to the local API.

Why not localstripe: it has no payouts or transfers (withdrawals need one), ignores Idempotency-Key,
and runs on aiohttp in its own event loop; this stand-in is ~300 lines of stdlib, speaks the same wire
format the official `stripe` SDK sends (form-encoded, nested `a[b]` keys, Bearer key), honours
Idempotency-Key (same key + same body -> same object; different body -> 400 idempotency_error, as Stripe
does), and signs each webhook exactly as Stripe does (`Stripe-Signature: t=<ts>,v1=<HMAC-SHA256 of
"t.payload">`), so the API's real verification code runs locally. Its times (`created`, the signature's `t`) are the
stack's clock (gridshare.kernel.clock), as the API checks them on it: they follow `gridshare clock advance`.

Supported: PaymentIntents (create, retrieve, confirm with the test payment methods `pm_card_visa` ->
succeeded, `pm_card_chargeDeclined` -> payment_failed; cancel), Refunds (create against a PaymentIntent,
partial, never above the amount), Transfers and Payouts (create), Events (retrieve).
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gridshare.kernel.clock import now_s

# How often the server checks for `stop` (http.server polls every 0.5 s, which `stop` then waits).
SHUTDOWN_POLL_S = 0.05

logger = logging.getLogger("gridshare.local.stripe")


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding: `metadata[user_id]=x&amount=100` -> {"metadata": {"user_id": "x"}, "amount": "100"}."""
    out: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header made by the SDK's own signer, so the stand-in signs exactly as Stripe."""
    import stripe

    return stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp if timestamp is not None else int(now_s())
    )


class StripeStandIn:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 12111,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_local",  # noqa: S107 - a local test secret
    ) -> None:
        self.host, self.port = host, port
        self.webhook_url, self.webhook_secret = webhook_url, webhook_secret
        self.objects: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.deliveries: list[tuple[str, int]] = []  # (event id, HTTP status of our API)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(8))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                path = urllib.parse.urlparse(self.path).path
                if not (self.headers.get("Authorization") or "").startswith("Bearer sk_"):
                    self._answer(401, {"error": {"type": "invalid_request_error", "message": "Invalid API key"}})
                    return
                status, body = standin.dispatch(method, path, parse_form(raw), self.headers.get("Idempotency-Key"), raw)
                self._answer(status, body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        serve = functools.partial(self._server.serve_forever, poll_interval=SHUTDOWN_POLL_S)
        threading.Thread(target=serve, name="stripe", daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------ API
    def dispatch(
        self, method: str, path: str, params: dict[str, Any], idem_key: str | None, raw: str
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST" and idem_key:
            with self._lock:
                seen = self._idempotency.get(idem_key)
            if seen is not None:
                if seen[0] != raw:
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests "
                            "can only be used with the same parameters they were first used with.",
                        }
                    }
                return seen[1], seen[2]
        status, body = self._route(method, path, params)
        if method == "POST" and idem_key:
            with self._lock:
                self._idempotency[idem_key] = (raw, status, body)
        return status, body

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["v1", "payment_intents"]:
            if method == "POST" and len(parts) == 2:
                return self._create_intent(params)
            intent = self.objects.get(parts[2]) if len(parts) > 2 else None
            if intent is None:
                return _missing("payment_intent")
            if method == "GET" and len(parts) == 3:
                return 200, intent
            if method == "POST" and len(parts) == 4 and parts[3] == "confirm":
                return self._confirm(intent, params)
            if method == "POST" and len(parts) == 4 and parts[3] == "cancel":
                return self._cancel(intent)
        if parts[:2] == ["v1", "refunds"] and method == "POST":
            return self._refund(params)
        if parts[:2] in (["v1", "transfers"], ["v1", "payouts"]) and method == "POST":
            kind = parts[1][:-1]
            obj = self._new(
                kind,
                {
                    "amount": int(params.get("amount", 0)),
                    "currency": params.get("currency"),
                    "destination": params.get("destination"),
                    "metadata": params.get("metadata", {}),
                    "status": "paid" if kind == "payout" else None,
                },
            )
            self._emit(f"{kind}.created", obj)
            if kind == "payout":
                self._emit("payout.paid", obj)
            return 200, obj
        if parts[:2] == ["v1", "events"] and method == "GET" and len(parts) == 3:
            event = next((e for e in self.events if e["id"] == parts[2]), None)
            return (200, event) if event else _missing("event")
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}}

    def _new(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        prefix = {"payment_intent": "pi", "refund": "re", "transfer": "tr", "payout": "po", "event": "evt"}[kind]
        obj = {
            "id": f"{prefix}_{secrets.token_hex(12)}",
            "object": kind,
            "created": int(now_s()),
            "livemode": False,
            **fields,
        }
        with self._lock:
            self.objects[obj["id"]] = obj
        return obj

    def _create_intent(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            amount = int(params["amount"])
        except (KeyError, ValueError):
            return 400, {"error": {"type": "invalid_request_error", "param": "amount", "message": "Missing amount"}}
        intent = self._new(
            "payment_intent",
            {
                "amount": amount,
                "amount_received": 0,
                "currency": params.get("currency", "eur"),
                "metadata": params.get("metadata", {}),
                "status": "requires_payment_method",
                "automatic_payment_methods": params.get("automatic_payment_methods"),
                "amount_refunded": 0,
            },
        )
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        self._emit("payment_intent.created", intent)
        return 200, intent

    def _confirm(self, intent: dict[str, Any], params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "payment_intent_unexpected_state",
                    "message": f"This PaymentIntent's status is {intent['status']}.",
                }
            }
        method = params.get("payment_method", "pm_card_visa")
        if method == "pm_card_chargeDeclined":
            intent.update(
                status="requires_payment_method",
                last_payment_error={"code": "card_declined", "message": "Your card was declined."},
            )
            self._emit("payment_intent.payment_failed", intent)
            return 402, {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "message": "Your card was declined.",
                    "payment_intent": intent,
                }
            }
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            payment_method=method,
            latest_charge=f"ch_{secrets.token_hex(12)}",
        )
        self._emit("payment_intent.succeeded", intent)
        return 200, intent

    def _cancel(self, intent: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if intent["status"] == "succeeded":
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "payment_intent_unexpected_state",
                    "message": "You cannot cancel this PaymentIntent because it has a status of succeeded.",
                }
            }
        intent["status"] = "canceled"
        self._emit("payment_intent.canceled", intent)
        return 200, intent

    def _refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = self.objects.get(params.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "param": "payment_intent",
                    "message": "This PaymentIntent cannot be refunded.",
                }
            }
        amount = int(params.get("amount", intent["amount"] - intent["amount_refunded"]))
        if amount <= 0 or intent["amount_refunded"] + amount > intent["amount"]:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "charge_already_refunded",
                    "message": "Refund amount is greater than unrefunded amount on charge.",
                }
            }
        intent["amount_refunded"] += amount
        refund = self._new(
            "refund",
            {
                "amount": amount,
                "currency": intent["currency"],
                "payment_intent": intent["id"],
                "status": "succeeded",
                "metadata": params.get("metadata", {}),
            },
        )
        self._emit("refund.created", refund)
        return 200, refund

    # ------------------------------------------------------------ webhooks
    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        event = {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "type": event_type,
            "api_version": "2024-06-20",
            "created": int(now_s()),
            "livemode": False,
            "data": {"object": json.loads(json.dumps(obj))},
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
        }
        with self._lock:
            self.events.append(event)
        if self.webhook_url:
            threading.Thread(target=self.deliver, args=(event,), daemon=True).start()

    def deliver(self, event: dict[str, Any], attempts: int = 3) -> int:
        """POST the event to the webhook URL with a valid signature (retried like Stripe, briefly)."""
        payload = json.dumps(event)
        status = 0
        for attempt in range(attempts):
            request = urllib.request.Request(  # noqa: S310 - the local API
                str(self.webhook_url),
                data=payload.encode(),
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": sign(payload, self.webhook_secret),
                    "User-Agent": "Stripe/1.0",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            if 200 <= status < 300:
                break
            time.sleep(0.2 * (attempt + 1))
        with self._lock:
            self.deliveries.append((event["id"], status))
        if not 200 <= status < 300:
            logger.warning(
                "webhook %s (%s) not accepted by %s: HTTP %s", event["id"], event["type"], self.webhook_url, status
            )
        return status


def _missing(kind: str) -> tuple[int, dict[str, Any]]:
    return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": f"No such {kind}"}}
