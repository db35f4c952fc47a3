"""Market orders accepted per second through the API handler, in-process against moto (one core).

The whole API (Chalice app, route guard with JWT verification, pydantic parsing, the market service) is
called through Chalice's test client; DynamoDB and Cognito are moto in the same process. Each order is a
`POST /v1/market/orders` with an `Idempotency-Key`; BIDs (every other order) also post their reservation
to the ledger (one TransactWriteItems through the wallets service); ASKs ask the sites service for the
seller's site. The buyers' wallets are credited once beforehand (a top-up transaction posted directly).

    .venv/bin/python bench/bench_market_orders.py --orders 400
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "gridshare"), str(ROOT / "local"), str(ROOT)]
for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "Gridshare",
}.items():
    os.environ.setdefault(key, value)
os.environ.pop("AWS_ENDPOINT_URL", None)

import moto.cognitoidp  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

INTERVAL_MS = 900_000


def _reset() -> None:
    from gridshare.contexts import all_tables
    from gridshare.kernel.aws import reset_clients
    from gridshare.kernel.factory import reset_services
    from gridshare.kernel.settings import reset_settings

    reset_settings()
    reset_clients()
    reset_services()
    for model in all_tables():
        model._connection = None


def _call(client: Client, method: str, path: str, body: object = None, token: str | None = None, **headers: str):  # type: ignore[no-untyped-def]
    all_headers = {"Content-Type": "application/json", **headers}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body)
    return getattr(client.http, method.lower())(path, headers=all_headers, body=data)


def _user(client: Client, email: str, role: str) -> tuple[str, str]:
    password = "Passw0rd!x"
    body = {"email": email, "password": password, "name": email.split("@")[0], "role": role}
    assert _call(client, "POST", "/v1/auth/register", body).status_code == 201
    code = json.loads(_call(client, "GET", f"/_local/outbox?to={email}").body)["data"][-1]["code"]
    assert _call(client, "POST", "/v1/auth/verify-email", {"email": email, "code": code}).status_code == 200
    login = json.loads(_call(client, "POST", "/v1/auth/login", {"email": email, "password": password}).body)["data"]
    return login["accessToken"], login["user"]["id"]


def run(orders: int, buyers: int) -> dict[str, float]:
    from gridshare.app_factory import make_app
    from gridshare.kernel.clock import now_ms
    from gridshare.ledger import core as L
    from gridshare.ledger.store import LedgerStore
    from gridshare.market.rules import interval_iso
    from gridshare_local import outbox
    from gridshare_local.moto_patches import install_fast_transactions
    from gridshare_local.pki import LocalCA
    from gridshare_local.provision import provision

    with TemporaryDirectory() as tmp, mock_aws():
        install_fast_transactions()
        _reset()
        ca = LocalCA.ensure(Path(tmp) / "ca")
        provisioned = provision(
            "us-east-1",
            email_sender="no-reply@gridshare.local",
            ca_cert_pem=ca.ca_cert_pem,
            cursor_secret=secrets.token_urlsafe(32),
        )
        jwks = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-public.json.gz"
        os.environ.update({**provisioned.env, "GS_JWKS_URL": f"file://{jwks}", "GS_LOCAL_STACK": "true"})
        _reset()
        app = make_app("bench-market")
        app.register_blueprint(outbox.api.build())
        with Client(app) as client:
            seller, _ = _user(client, "seller@bench.example", "prosumer")
            site = {
                "name": "roof",
                "kind": "solar",
                "capacityKw": 1_000,
                "location": {"lat": 45.0, "lon": 7.6},
                "timezone": "Europe/Rome",
                "tariff": {"currency": "EUR", "retailMinorPerKwh": 30, "feedInMinorPerKwh": 8},
            }
            site_id = json.loads(_call(client, "POST", "/v1/sites", site, seller).body)["data"]["id"]
            wallets = []
            for n in range(buyers):
                token, user_id = _user(client, f"buyer{n}@bench.example", "consumer")
                LedgerStore().post(L.topup(f"topup:bench-{n}", user_id, 10_000_000, "EUR"))
                wallets.append(token)
            interval = interval_iso((now_ms() + 3_600_000) // INTERVAL_MS * INTERVAL_MS)
            started = time.perf_counter()
            for n in range(orders):
                if n % 2:
                    body = {"side": "BID", "interval": interval, "energyWh": 100 + n, "limitPriceMinorPerKwh": 30}
                    token = wallets[n % buyers]
                else:
                    body = {"side": "ASK", "interval": interval, "energyWh": 100 + n, "limitPriceMinorPerKwh": 20}
                    body["siteId"] = site_id
                    token = seller
                response = _call(
                    client, "POST", "/v1/market/orders", body, token, **{"Idempotency-Key": str(uuid.uuid4())}
                )
                assert response.status_code == 201, response.body
            elapsed = time.perf_counter() - started
    _reset()
    return {"orders": orders, "seconds": elapsed, "orders_per_s": orders / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--buyers", type=int, default=4)
    args = parser.parse_args()
    result = run(args.orders, args.buyers)
    print(
        f"market orders through the API handler (moto): {result['orders']:.0f} orders in "
        f"{result['seconds']:.2f} s = {result['orders_per_s']:.1f} orders/s"
    )


if __name__ == "__main__":
    main()
