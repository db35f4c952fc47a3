"""The local stack: the whole system on loopback, against moto (DESIGN.md section 4).

Started by `gridshare up`; tests start it too. One process holds moto (ThreadedMotoServer), the API
(the Chalice app on a local HTTP server), the rule bridge, the iot-data forwarder (moto's data-plane
publishes reach devices: gridshare_local.iot_data), the queue pollers, the Lambda dispatcher and the
Stripe stand-in (signed webhooks to the API); Mosquitto runs as a child process. Every piece reaches
moto through AWS_ENDPOINT_URL, as a Lambda reaches AWS.

Time: every process of the stack reads now through the kernel clock (gridshare.kernel.clock) with
GS_CLOCK_FILE = `<state dir>/clock.json`, the offset `gridshare clock advance` moves. A start is a fresh
world (moto keeps nothing), so the offset starts at 0; env.json hands GS_CLOCK_FILE to other processes.

Cursors: the state directory keeps its own random GS_CURSOR_SECRET (`cursor.key`, owner-only, made on the
first start; gridshare_local.state_secrets), so a restart of the same directory keeps cursors valid and
another directory's stack refuses them. env.json carries it, so env.json is owner-only too.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridshare.kernel.aws import new_client
from gridshare_local import cli_errors
from gridshare_local.state_secrets import ensure_cursor_key, write_owner_only

logger = logging.getLogger("gridshare.local")
REGION = "us-east-1"
STRIPE_PORT_ENV = "GS_STRIPE_PORT"
DEFAULT_STRIPE_PORT = 12111  # localstripe's and stripe-mock's port: a developer's habit
WEBHOOK_PATH = "/v1/payments/stripe/webhook"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class Endpoints:
    api: str
    moto: str
    mqtt_host: str
    mqtt_port: int | None
    state_dir: Path
    stripe: str | None = None
    websocket: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "aws": self.moto,
            "mqtt": f"mqtts://{self.mqtt_host}:{self.mqtt_port}" if self.mqtt_port else None,
            "stripe": self.stripe,
            "websocket": self.websocket,
            "stateDir": str(self.state_dir),
        }


@dataclass
class LocalStack:
    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("GS_STATE_DIR", ".local")).resolve())
    host: str = "127.0.0.1"
    api_port: int = field(default_factory=lambda: _port("GS_API_PORT", 8000))
    mqtt_port: int = field(default_factory=lambda: _port("GS_MQTT_PORT", 8883))
    moto_port: int = field(default_factory=lambda: _port("GS_MOTO_PORT", 4566))
    ws_port: int = field(default_factory=lambda: _port("GS_WS_PORT", 8001))
    # None: GS_STRIPE_PORT, else 12111 when free, else any free port (env.json says which).
    stripe_port: int | None = None
    with_broker: bool = True
    access_log: bool = True
    # The optional Timestream sink (decision 0020), off like the CDK flag: GS_TIMESTREAM=true turns it on.
    timestream: bool = field(default_factory=lambda: os.environ.get("GS_TIMESTREAM", "").lower() in ("1", "true"))

    def __post_init__(self) -> None:
        self._moto: Any = None
        self._api: Any = None
        self._api_thread: threading.Thread | None = None
        self._broker: Any = None
        self._bridge: Any = None
        self._iot_data: Any = None
        self._shadows: Any = None
        self._pollers: list[Any] = []
        self._ws: Any = None
        self.stripe: Any = None
        self.clock: Any = None
        self.queue_urls: dict[str, str] = {}
        self.env: dict[str, str] = {}

    # ------------------------------------------------------------ lifecycle
    @property
    def clock_file(self) -> Path:
        return self.state_dir / "clock.json"

    def start(self) -> Endpoints:
        """Start every piece; when one fails, the ones already started are stopped and the error raised."""
        try:
            return self._start()
        except BaseException:
            try:
                self.stop()
            except Exception:  # the start's error is the one to report
                logger.warning("stopping the half-started stack failed", exc_info=True)
            raise

    def _start(self) -> Endpoints:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Mosquitto drops root and must still reach its files under the state directory.
        self.state_dir.chmod(self.state_dir.stat().st_mode | 0o711)
        self._start_time()
        self._start_moto()
        ca = self._local_ca()
        from gridshare.kernel.aws import reset_clients
        from gridshare.kernel.settings import reset_settings
        from gridshare_local.provision import StripeCredentials, provision

        reset_settings()
        reset_clients()
        # Fresh test keys per start, the same JSON shape as the deployed secret (infra_cdk/constructs/wallets.py).
        stripe = StripeCredentials(
            api_key="sk_test_local_" + secrets.token_hex(16),
            webhook_secrets=("whsec_" + secrets.token_hex(24),),
        )
        provisioned = provision(
            REGION,
            email_sender="no-reply@gridshare.local",
            cursor_secret=ensure_cursor_key(self.state_dir),
            ca_cert_pem=ca.ca_cert_pem,
            stripe=stripe,
            timestream=self.timestream,
        )
        self.queue_urls = provisioned.queue_urls
        self._set_env(provisioned.env)
        pool = provisioned.env["GS_USER_POOL_ID"]
        self._set_env({"GS_JWKS_URL": f"http://{self.host}:{self.moto_port}/{pool}/.well-known/jwks.json"})
        self._start_websocket()
        self._start_stripe(stripe.webhook_secrets[0])
        reset_settings()
        self._start_broker(ca)
        self._start_pollers()
        self._start_clock()
        self._start_api()
        self._set_env({"GS_API_URL": self.endpoints.api})
        write_owner_only(self.state_dir / "env.json", json.dumps(self.env, indent=2))  # holds the cursor key
        return self.endpoints

    def stop(self) -> None:
        if self.clock is not None:
            from gridshare_local import clock as local_clock

            self.clock.stop()
            if local_clock.current() is self.clock:
                local_clock.install(None)
        if self.stripe is not None:
            self.stripe.stop()
        for poller in self._pollers:
            poller.stop()
        if self._ws is not None:
            self._ws.stop()
        if self._bridge is not None:
            self._bridge.stop()
        if self._shadows is not None:
            from gridshare_local import shadow_bridge

            shadow_bridge.install(None)
            self._shadows.stop()
        if self._iot_data is not None:
            from gridshare_local import iot_data

            iot_data.install(None)
            self._iot_data.stop()
        if self._broker is not None:
            from gridshare_local import revocation

            revocation.install(None)
            self._broker.stop()
        if self._api is not None:
            self._api.shutdown()
            self._api.server.server_close()
        if self._moto is not None:
            self._moto.stop()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            api=f"http://{self.host}:{self.api_port}",
            moto=f"http://{self.host}:{self.moto_port}",
            mqtt_host=self.host,
            mqtt_port=self.mqtt_port if self._broker else None,
            state_dir=self.state_dir,
            stripe=self.stripe.url if self.stripe is not None else None,
            websocket=self._ws.url if self._ws is not None else None,
        )

    # ------------------------------------------------------------ pieces
    def _set_env(self, values: dict[str, str]) -> None:
        self.env.update(values)
        os.environ.update(values)

    def _start_time(self) -> None:
        """Before anything reads the clock: offset 0 in a fresh clock file, GS_CLOCK_FILE for every piece."""
        from gridshare_local.clock import write_offset

        write_offset(self.clock_file, 0)
        self._set_env({"GS_CLOCK_FILE": str(self.clock_file)})

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines

        endpoint = f"http://{self.host}:{self.moto_port}"
        self._set_env(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                # Step Functions' interpreter calls back into moto on this port (see FIELD-NOTES).
                "MOTO_PORT": str(self.moto_port),
                "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
                # moto's DynamoDB is not safe under concurrent conditional writes (FIELD-NOTES), and every
                # settlement shard posts to the grid's and the platform's accounts: one shard at a time
                "GS_SETTLEMENT_MAX_CONCURRENCY": os.environ.get("GS_SETTLEMENT_MAX_CONCURRENCY", "1"),
                "GS_STAGE": "local",
                "GS_LOCAL_STACK": "true",
                "GS_CERT_ISSUER": "local",
                "GS_LOCAL_CA_DIR": str(self.state_dir / "ca"),
                "GS_MQTT_HOST": self.host,
                "GS_MQTT_PORT": str(self.mqtt_port),
                "POWERTOOLS_METRICS_NAMESPACE": "Gridshare",
                "POWERTOOLS_SERVICE_NAME": "gridshare-local",
                "POWERTOOLS_DEV": "false",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            }
        )
        from gridshare_local.moto_patches import install_fast_transactions, install_stack_time

        install_fast_transactions()
        install_stack_time()
        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.moto_port, verbose=False)
        self._moto.start()
        import requests

        requests.post(
            f"{endpoint}/moto-api/config",
            timeout=10,
            json={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            },
        ).raise_for_status()
        from gridshare.kernel import resources
        from gridshare_local.lambda_runtime import install_lambda_dispatcher

        # Scheduler targets (the local clock fires them) run our handlers in-process, by function name.
        from gridshare_local.provision import SETTLEMENT_FUNCTIONS

        install_lambda_dispatcher({schedule.name: schedule.handler for schedule in resources.SCHEDULES})
        install_lambda_dispatcher(SETTLEMENT_FUNCTIONS)  # the settlement state machine's tasks

    def _start_stripe(self, webhook_secret: str) -> None:
        """The Stripe stand-in: the wallets function's SDK calls reach it through GS_STRIPE_API_BASE, and it
        delivers each event, signed with the webhook secret the API reads from the Stripe secret, to the
        local API's webhook route (the API starts later; nothing is delivered before a payment)."""
        from gridshare_local.stripe_standin import StripeStandIn

        explicit = self.stripe_port if self.stripe_port is not None else _optional_port(STRIPE_PORT_ENV)
        webhook_url = f"http://{self.host}:{self.api_port}{WEBHOOK_PATH}"
        standin = StripeStandIn(
            self.host, explicit if explicit is not None else DEFAULT_STRIPE_PORT, webhook_url, webhook_secret
        )
        try:
            standin.start()
        except OSError as exc:
            if explicit is not None or exc.errno != errno.EADDRINUSE:
                raise
            # Another stack (a demo, an e2e run) holds the default port: take any free one.
            logger.info("port %s is in use: the Stripe stand-in takes a free port", DEFAULT_STRIPE_PORT)
            standin = StripeStandIn(self.host, 0, webhook_url, webhook_secret)
            standin.start()
        self.stripe = standin
        self._set_env({"GS_STRIPE_API_BASE": standin.url})

    def _start_websocket(self) -> None:
        """The WebSocket API (gridshare_local.ws_server) and its @connections endpoint, which every function
        that pushes reaches through GS_WS_MANAGEMENT_ENDPOINT, as on AWS through the stage's callback URL."""
        from gridshare_local.ws_server import LocalWebSocketApi

        self._ws = LocalWebSocketApi(self.host, self.ws_port)
        self._ws.start()
        self._set_env({"GS_WS_MANAGEMENT_ENDPOINT": self._ws.management_url, "GS_WS_URL": self._ws.url})

    def _local_ca(self) -> Any:
        from gridshare_local.pki import LocalCA

        return LocalCA.ensure(self.state_dir / "ca")

    def _start_broker(self, ca: Any) -> None:
        if not self.with_broker:
            return
        from gridshare_local.broker import MosquittoBroker, find_mosquitto
        from gridshare_local.rule_bridge import RuleBridge, load_rules

        if find_mosquitto() is None:
            logger.warning("Mosquitto is not installed: devices cannot connect (apt-get install mosquitto)")
            return
        self._broker = MosquittoBroker(self.state_dir, ca, host=self.host, port=self.mqtt_port)
        self._broker.start()
        cert, key, ca_path = self._broker.client_credentials("gridshare-backend-bridge")
        from gridshare.kernel import resources

        self._bridge = RuleBridge(
            load_rules(resources.IOT_RULES_DIR), self.host, self.mqtt_port, cert, key, ca_path, self._deliver
        )
        self._bridge.start()
        from gridshare_local import iot_data

        self._iot_data = iot_data.BrokerPublisher(
            self.host, self.mqtt_port, *self._broker.client_credentials(iot_data.CLIENT_CN)
        )
        self._iot_data.start()
        iot_data.install(self._iot_data)  # moto's iot-data publish reaches devices, as IoT Core's does
        from gridshare_local import revocation

        revocation.install(revocation.BrokerRevoker(self._broker))  # REVOKED in IoT: refused and dropped

        from gridshare_local import shadow_bridge
        from gridshare_local.provision import ACCOUNT

        self._shadows = shadow_bridge.ShadowBridge(
            self.host, self.mqtt_port, *self._broker.client_credentials(shadow_bridge.CLIENT_CN), REGION, ACCOUNT
        )
        self._shadows.start()
        shadow_bridge.install(self._shadows)  # device shadows over MQTT, on moto's shadow store

    def _deliver(self, rule: Any, action: dict[str, Any], message: dict[str, Any]) -> None:

        if "sqs" not in action:
            raise ValueError(f"rule action not supported locally: {sorted(action)}")
        new_client("sqs", region_name=REGION).send_message(
            QueueUrl=self.queue_urls[action["sqs"]["queue"]], MessageBody=json.dumps(message)
        )

    def _start_pollers(self) -> None:

        from gridshare.kernel import resources
        from gridshare_local.lambda_runtime import QueuePoller

        sqs = new_client("sqs", region_name=REGION)
        sources = (*resources.EVENT_SOURCES, *([resources.TIMESTREAM_SOURCE] if self.timestream else []))
        for source in sources:
            url = self.queue_urls[source.queue]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            poller = QueuePoller(url, arn, source.handler, source.batch_size, REGION)
            poller.start()
            self._pollers.append(poller)

    def _start_clock(self) -> None:
        from gridshare_local.clock import LocalClock, install
        from gridshare_local.lambda_runtime import invoke_local

        self.clock = LocalClock(REGION, invoke_local, clock_file=self.clock_file)
        install(self.clock)  # for POST /_local/clock/advance
        self.clock.start()

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler

        from gridshare_local.api_server import create_api_server

        if not self.access_log:
            ChaliceRequestHandler.log_message = lambda *_args: None  # type: ignore[method-assign]
        from gridshare.app_factory import make_app
        from gridshare_local import clock_api, outbox

        app = make_app("gridshare")
        app.register_blueprint(outbox.api.build())
        app.register_blueprint(clock_api.api.build())
        self._api = create_api_server(
            app, Config(chalice_stage="local", user_provided_params={}), self.host, self.api_port
        )
        self._api_thread = threading.Thread(target=self._api.server.serve_forever, name="api", daemon=True)
        self._api_thread.start()


def _optional_port(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def api_answers(api: str, timeout: float = 3.0) -> bool:
    """Whether a stack's API answers GET /health."""
    import requests

    try:
        return requests.get(f"{api}/health", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def attach_to_running_stack(state_dir: Path | None = None) -> dict[str, str]:
    """Point this process at a running local stack (its moto, pool, tables) using its env.json.

    StackNotRunning when there is no env.json or its API does not answer (a stopped stack leaves env.json).
    """
    directory = state_dir or cli_errors.state_dir()
    path = directory / "env.json"
    if not path.exists():
        raise cli_errors.StackNotRunning(directory)
    env = json.loads(path.read_text())
    if env.get("GS_API_URL") and not api_answers(env["GS_API_URL"]):
        raise cli_errors.StackNotRunning(directory, env["GS_API_URL"])
    os.environ.update(env)
    from gridshare.kernel.aws import reset_clients
    from gridshare.kernel.settings import reset_settings

    reset_settings()
    reset_clients()
    return dict(env)
