"""Wallet test harness: a Stripe stand-in, its secret in moto, members with tokens, and the `money` fixture."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import stripe

from gridshare_local.stripe_standin import StripeStandIn
from tests.support.api import Api, create_admin, register_user

WEBHOOK_SECRET = "whsec_test_current"
OLD_WEBHOOK_SECRET = "whsec_test_previous"
API_KEY = "sk_test_gridshare"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "Adm1nPassw0rd"
WEBHOOK = "/v1/payments/stripe/webhook"


# ----------------------------------------------------------------------------------- the harness
@dataclass
class Member:
    token: str
    user_id: str
    email: str


@dataclass
class Money:
    """The API, the Stripe stand-in, and helpers that act as the card holder and as Stripe."""

    api: Api
    standin: StripeStandIn
    secret_arn: str
    delivered: set[str] = field(default_factory=set)
    _admin: Member | None = None

    # -------------------------------------------------------------- people
    def member(self, email: str, role: str = "prosumer") -> Member:
        login = register_user(self.api, email, role)
        return Member(login["accessToken"], login["user"]["id"], email)

    @property
    def admin(self) -> Member:
        if self._admin is None:
            create_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
            login = _data(self.api.call("POST", "/v1/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            self._admin = Member(login["accessToken"], login["user"]["id"], ADMIN_EMAIL)
        return self._admin

    # -------------------------------------------------------------- requests
    def call(
        self, method: str, path: str, who: Member | None, body: Any = None, key: str | None = None, **headers: str
    ) -> Any:
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.api.call(method, path, body, token=who.token if who else None, headers=headers)

    # -------------------------------------------------------------- the card holder (the SDK's test flow)
    def stripe(self) -> Any:
        return stripe.StripeClient(API_KEY, base_addresses={"api": self.standin.url})

    def pay(self, payment_intent_id: str, method: str = "pm_card_visa") -> None:
        try:
            self.stripe().v1.payment_intents.confirm(payment_intent_id, params={"payment_method": method})
        except stripe.CardError:
            assert method != "pm_card_visa"

    # -------------------------------------------------------------- Stripe's side
    def events(self, event_type: str | None = None, intent: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.standin.events
            if (event_type is None or e["type"] == event_type)
            and (intent is None or e["data"]["object"].get("id") == intent)
        ]

    def deliver(
        self,
        event: dict[str, Any],
        *,
        secrets: tuple[str, ...] = (WEBHOOK_SECRET,),
        timestamp: int | None = None,
        payload: str | None = None,
        signature: str | None = None,
        omit_signature: bool = False,
    ) -> Any:
        from gridshare.wallets.stripe_signature import signature_header

        body = payload if payload is not None else json.dumps(event)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0"}
        if not omit_signature:
            headers["Stripe-Signature"] = signature or signature_header(
                body, secrets, timestamp if timestamp is not None else int(time.time())
            )
        return self.api.call("POST", WEBHOOK, body, headers=headers)

    def deliver_new_events(self) -> list[Any]:
        """Every stand-in event not delivered yet, in order, as Stripe would post them."""
        responses = []
        for event in list(self.standin.events):
            if event["id"] not in self.delivered:
                self.delivered.add(event["id"])
                response = self.deliver(event)
                assert response.status_code == 200, response.body
                responses.append(response)
        return responses

    # -------------------------------------------------------------- flows
    def topup(self, who: Member, amount: int, *, key: str | None = None, currency: str = "EUR") -> dict[str, Any]:
        """Top up as a user would: create, pay with a test card, and let Stripe's webhooks arrive."""
        response = self.call("POST", "/v1/wallet/topups", who, {"amount": amount, "currency": currency}, key)
        assert response.status_code == 201, response.body
        created = _data(response)
        self.pay(created["paymentIntentId"])
        self.deliver_new_events()
        return created

    def wallet(self, who: Member) -> dict[str, dict[str, Any]]:
        response = self.call("GET", "/v1/wallet", who)
        assert response.status_code == 200, response.body
        return {b["asset"]: b for b in _data(response)["balances"]}

    def available(self, who: Member, asset: str = "EUR") -> int:
        return int(self.wallet(who).get(asset, {"available": 0})["available"])

    def verify(self) -> dict[str, Any]:
        response = self.call("GET", "/v1/admin/ledger/verify", self.admin)
        assert response.status_code == 200, response.body
        return _data(response)


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _problem(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/problem+json", response.body
    return json.loads(response.body)


def ledger_types() -> Counter[str]:
    """Posted ledger transactions by type (what 'posted exactly once' is measured by)."""
    from gridshare.ledger.models import LedgerTransactionModel

    return Counter(item.type for item in LedgerTransactionModel.scan(consistent_read=True))


def stripe_objects(standin: StripeStandIn, kind: str) -> list[dict[str, Any]]:
    return [o for o in standin.objects.values() if o["object"] == kind]


def make_stripe_secret(secrets: list[str], name: str = "gridshare/stripe") -> str:
    client = boto3.client("secretsmanager")
    value = json.dumps({"apiKey": API_KEY, "webhookSecrets": secrets})
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


@pytest.fixture
def money(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Money]:
    """A Stripe stand-in (no webhook URL: deliveries are made by the test) and its secret in moto."""
    import gridshare.wallets.api as wallet_api
    from gridshare.kernel.settings import reset_settings
    from gridshare.wallets.stripe_gateway import reset_stripe_gateway

    standin = StripeStandIn(port=0, webhook_url=None, webhook_secret=WEBHOOK_SECRET)
    standin.start()
    arn = make_stripe_secret([WEBHOOK_SECRET, OLD_WEBHOOK_SECRET])
    monkeypatch.setenv("GS_STRIPE_SECRET_ARN", arn)
    monkeypatch.setenv("GS_STRIPE_API_BASE", standin.url)
    reset_settings()
    reset_stripe_gateway()
    wallet_api.wallet_service.reset()
    try:
        yield Money(api, standin, arn)
    finally:
        standin.stop()
        reset_stripe_gateway()
        wallet_api.wallet_service.reset()


# --------------------------------------------------------------------------------------- top-ups


def lose_first_answer(operation: str) -> None:
    """Serve a wallet service whose Stripe gateway performs `operation` but loses its first answer, as a
    timeout after Stripe acted would (the next call answers normally). Reset by the fixtures."""
    from gridshare.wallets.service import WalletService, wallet_service
    from gridshare.wallets.stripe_gateway import PaymentProviderUnavailable, stripe_gateway

    real = stripe_gateway()
    failures = [1]

    class LosesFirstAnswer:
        def __getattr__(self, name: str) -> Any:
            attribute = getattr(real, name)
            if name != operation:
                return attribute

            def call(*args: Any, **kwargs: Any) -> Any:
                result = attribute(*args, **kwargs)
                if failures:
                    failures.pop()
                    raise PaymentProviderUnavailable("timed out")
                return result

            return call

    wallet_service.use(WalletService(gateway_factory=LosesFirstAnswer))
