"""Stripe behind an interface: PaymentIntents for top-ups, refunds, payouts and transfers for withdrawals.

The official ``stripe`` SDK does the talking (``StripeClient``, ``client.v1.*``); locally it is pointed at
the Stripe stand-in of the local stack through ``GS_STRIPE_API_BASE``. Every write carries an
idempotency key chosen by the caller from what it is doing (a payment, refund or withdrawal id), so a
retry after a lost response gets Stripe's first answer instead of a second charge, refund or payout.

**Secrets.** ``GS_STRIPE_SECRET_ARN`` names a Secrets Manager secret whose SecretString is
``{"apiKey": "sk_...", "webhookSecrets": ["whsec_...", ...]}`` (several webhook secrets while one is
rolled). It is read once per container and ARN; :meth:`StripeGateway.refresh_webhook_secrets` re-reads
it when a webhook fails to verify, at most once a minute, so a rotated secret is picked up without a
redeploy and forged deliveries cannot make us hammer Secrets Manager.

**Errors.** Stripe's exceptions never leave this module: a request Stripe refuses (invalid request,
card error) is :class:`PaymentRefused` (422); a reused idempotency key with other parameters is
:class:`PaymentIdempotencyConflict` (409); everything that leaves the outcome unknown or is our own
misconfiguration (network, rate limit, Stripe 5xx, bad API key) is :class:`PaymentProviderUnavailable`
(503), after which a retry with the same idempotency key is safe.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel.aws import client
from gridshare.kernel.errors import Conflict, FieldError, InvalidInput, Unavailable
from gridshare.kernel.settings import get_settings

__all__ = [
    "PaymentGateway",
    "PaymentIdempotencyConflict",
    "PaymentIntentInfo",
    "PaymentProviderUnavailable",
    "PaymentRefused",
    "PayoutInfo",
    "RefundInfo",
    "StripeConfig",
    "StripeGateway",
    "StripeSecret",
    "reset_stripe_gateway",
    "stripe_gateway",
]

logger = logging.getLogger("gridshare.stripe")

REFRESH_AFTER_S = 60.0
TIMEOUT_S = 5  # with the SDK's retries, well inside the wallets Lambda's timeout
NETWORK_RETRIES = 2


# ------------------------------------------------------------------------------------------ errors
class PaymentRefused(InvalidInput):
    """Stripe refused the request as it stands (422): nothing was charged, refunded or paid out."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail, errors=[FieldError(field or "$", detail)])


class PaymentIdempotencyConflict(Conflict):
    """The idempotency key was already used at Stripe with other parameters (409)."""


class PaymentProviderUnavailable(Unavailable):
    """Stripe could not be reached or did not answer definitively (503); retry with the same key."""


# --------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class PaymentIntentInfo:
    id: str
    client_secret: str
    status: str
    amount: int
    currency: str  # upper case, as everywhere in Gridshare


@dataclass(frozen=True)
class RefundInfo:
    id: str
    status: str
    amount: int


@dataclass(frozen=True)
class PayoutInfo:
    id: str
    kind: str  # "payout" | "transfer"
    status: str | None
    amount: int


class PaymentGateway(Protocol):
    """What the wallets service needs from a payment provider; tests pass a fake."""

    def create_payment_intent(
        self, amount: int, currency: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> PaymentIntentInfo: ...

    def refund(
        self, payment_intent_id: str, amount: int, idempotency_key: str, metadata: Mapping[str, str] | None = None
    ) -> RefundInfo: ...

    def payout(self, amount: int, currency: str, metadata: Mapping[str, str], idempotency_key: str) -> PayoutInfo: ...

    def transfer(
        self, amount: int, currency: str, destination: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> PayoutInfo: ...

    def webhook_secrets(self) -> tuple[str, ...]: ...

    def refresh_webhook_secrets(self) -> bool: ...


# --------------------------------------------------------------------------------------- secrets
@dataclass(frozen=True)
class StripeConfig:
    api_key: str
    webhook_secrets: tuple[str, ...]

    @classmethod
    def parse(cls, secret_string: str) -> StripeConfig:
        """``{"apiKey": "sk_...", "webhookSecrets": [...]}``; a single ``"webhookSecret"`` is accepted too."""
        try:
            document = json.loads(secret_string)
        except (TypeError, ValueError):
            raise ValueError("the Stripe secret is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError("the Stripe secret is not a JSON object")
        api_key = document.get("apiKey")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("the Stripe secret has no apiKey")
        secrets = document.get("webhookSecrets")
        if secrets is None and isinstance(document.get("webhookSecret"), str):
            secrets = [document["webhookSecret"]]
        if not isinstance(secrets, list) or not all(isinstance(s, str) and s for s in secrets):
            raise ValueError("the Stripe secret's webhookSecrets must be a list of non-empty strings")
        return cls(api_key, tuple(secrets))


class StripeSecret:
    """The Stripe secret of one ARN, read from Secrets Manager on first use and kept for the container."""

    def __init__(
        self, arn: str, *, refresh_after_s: float = REFRESH_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.arn = arn
        self.refresh_after_s = refresh_after_s
        self.clock = clock
        self._config: StripeConfig | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> StripeConfig:
        with self._lock:
            if self._config is None:
                self._config = self._load()
                self._loaded_at = self.clock()
            return self._config

    def refresh(self) -> bool:
        """Read the secret again unless it was read less than ``refresh_after_s`` ago; True if it changed."""
        with self._lock:
            if self._config is not None and self.clock() - self._loaded_at < self.refresh_after_s:
                return False
            before = self._config
            self._config = self._load()
            self._loaded_at = self.clock()
            return self._config != before

    def _load(self) -> StripeConfig:
        if not self.arn:
            raise PaymentProviderUnavailable("Payments are not configured (no Stripe secret).")
        try:
            value = client("secretsmanager").get_secret_value(SecretId=self.arn)
            return StripeConfig.parse(value.get("SecretString") or "")
        except (ClientError, BotoCoreError) as exc:
            logger.error("cannot read the Stripe secret %s: %s", self.arn, exc)
            raise PaymentProviderUnavailable("Payments are unavailable: the Stripe secret cannot be read.") from exc
        except ValueError as exc:
            logger.error("the Stripe secret %s is malformed: %s", self.arn, exc)
            raise PaymentProviderUnavailable("Payments are unavailable: the Stripe secret is malformed.") from exc


# --------------------------------------------------------------------------------------- gateway
class StripeGateway:
    """:class:`PaymentGateway` on the official SDK. One ``StripeClient`` per API key and container."""

    def __init__(self, secret: StripeSecret, api_base: str = "", *, network_retries: int = NETWORK_RETRIES) -> None:
        self.secret = secret
        self.api_base = api_base.rstrip("/")
        self.network_retries = network_retries
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ writes
    def create_payment_intent(
        self, amount: int, currency: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> PaymentIntentInfo:
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "metadata": dict(metadata),
            "description": "Gridshare wallet top-up",
            # Cards confirm without a redirect, so the SDK's server-side test flow (confirm with
            # pm_card_visa) works as a card holder's client would.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
        intent = self._call(lambda c: c.v1.payment_intents.create(params=params, options=_key(idempotency_key)))
        return PaymentIntentInfo(
            id=intent.id,
            client_secret=intent.client_secret,
            status=intent.status,
            amount=int(intent.amount),
            currency=str(intent.currency).upper(),
        )

    def refund(
        self, payment_intent_id: str, amount: int, idempotency_key: str, metadata: Mapping[str, str] | None = None
    ) -> RefundInfo:
        params = {"payment_intent": payment_intent_id, "amount": amount, "metadata": dict(metadata or {})}
        refund = self._call(lambda c: c.v1.refunds.create(params=params, options=_key(idempotency_key)))
        return RefundInfo(id=refund.id, status=str(refund.status), amount=int(refund.amount))

    def payout(self, amount: int, currency: str, metadata: Mapping[str, str], idempotency_key: str) -> PayoutInfo:
        params = {"amount": amount, "currency": currency.lower(), "metadata": dict(metadata)}
        payout = self._call(lambda c: c.v1.payouts.create(params=params, options=_key(idempotency_key)))
        return PayoutInfo(
            id=payout.id, kind="payout", status=getattr(payout, "status", None), amount=int(payout.amount)
        )

    def transfer(
        self, amount: int, currency: str, destination: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> PayoutInfo:
        """A Connect transfer to ``destination`` (a connected account id, ``acct_...``)."""
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "destination": destination,
            "metadata": dict(metadata),
        }
        transfer = self._call(lambda c: c.v1.transfers.create(params=params, options=_key(idempotency_key)))
        return PayoutInfo(id=transfer.id, kind="transfer", status=None, amount=int(transfer.amount))

    # ------------------------------------------------------------ webhooks
    def webhook_secrets(self) -> tuple[str, ...]:
        return self.secret.get().webhook_secrets

    def refresh_webhook_secrets(self) -> bool:
        try:
            return self.secret.refresh()
        except PaymentProviderUnavailable:
            return False

    # ------------------------------------------------------------ plumbing
    def _client(self) -> Any:
        api_key = self.secret.get().api_key
        with self._lock:
            found = self._clients.get(api_key)
            if found is None:
                import stripe  # ~100 ms: only the functions that move money pay for it

                try:
                    http_client = stripe.new_default_http_client(timeout=TIMEOUT_S)
                except TypeError:  # the urllib fallback (no `requests` installed) has no timeout option
                    http_client = None
                found = stripe.StripeClient(
                    api_key,
                    base_addresses={"api": self.api_base} if self.api_base else None,
                    max_network_retries=self.network_retries,
                    http_client=http_client,
                )
                self._clients = {api_key: found}  # a rotated key replaces the old client
            return found

    def _call(self, request: Callable[[Any], Any]) -> Any:
        import stripe

        try:
            return request(self._client())
        except stripe.IdempotencyError as exc:
            raise PaymentIdempotencyConflict(
                "The idempotency key was already used at Stripe with other parameters."
            ) from exc
        except (stripe.CardError, stripe.InvalidRequestError) as exc:
            logger.info("Stripe refused a request: %s %s", type(exc).__name__, exc.user_message or exc)
            param = getattr(exc, "param", None)
            raise PaymentRefused(f"Stripe refused the request: {exc.user_message or exc}", field=param) from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            logger.error("Stripe refused our credentials: %s", exc)
            raise PaymentProviderUnavailable("Payments are unavailable (provider configuration).") from exc
        except stripe.StripeError as exc:  # connection, rate limit, Stripe's 5xx: the outcome is unknown
            logger.warning("Stripe did not answer definitively: %s %s", type(exc).__name__, exc)
            raise PaymentProviderUnavailable(
                "The payment provider did not answer; retry with the same Idempotency-Key."
            ) from exc


def _key(idempotency_key: str) -> dict[str, str]:
    return {"idempotency_key": idempotency_key}


# --------------------------------------------------------------------------------------- factory
@cache
def _gateway(arn: str, api_base: str) -> StripeGateway:
    return StripeGateway(StripeSecret(arn), api_base)


def stripe_gateway() -> StripeGateway:
    """The container's gateway for the configured secret and API base (one per pair, built lazily)."""
    settings = get_settings()
    return _gateway(settings.stripe_secret_arn, settings.stripe_api_base)


def reset_stripe_gateway() -> None:
    """Forget cached gateways and secrets (tests that change the secret or the stand-in)."""
    _gateway.cache_clear()
