"""The local IoT rules engine: topic rules from ``iot_rules/*.json`` applied to messages on the local broker.

moto stores IoT topic rules but never runs them, so the local stack subscribes to each rule's topic
filter on Mosquitto, evaluates the rule's SQL and hands the result to the rule's actions, as IoT Core
would. The rule files are the single source of truth: the CDK app creates the same rules in AWS.

Only the SQL the rules use is supported, and it is parsed when the rules are loaded, so a rule this
bridge cannot evaluate fails at start-up instead of silently dropping messages at run time:

* ``SELECT`` items: ``*`` (the JSON payload's fields), ``encode(*, 'base64')``, ``topic()``,
  ``topic(n)`` (1-based segment), ``timestamp()`` (epoch ms at receipt, on the stack's clock,
  gridshare.kernel.clock), ````clientid()``; function calls need ``AS alias``.
* ``FROM '<topic filter>'`` with MQTT wildcards ``+`` and ``#`` (matched by paho's ``topic_matches_sub``,
  which, as IoT Core, never matches a ``$`` topic with a first-level wildcard); no ``WHERE``.
* ``awsIotSqlVersion`` must be ``2016-03-23`` (the older default, 2015-10-08, evaluates differently).

As in IoT SQL, a value that is undefined (``topic(5)`` of a 3-segment topic, ``clientid()`` when the
publisher is unknown) is left out of the result rather than set to null. Unlike IoT Core, ``SELECT *``
on a payload that is not a JSON object raises :class:`RuleError` (IoT would forward binary data as is);
use ``encode(*, 'base64')`` for payloads that may not be JSON, which is why the telemetry rule does.

Failures are never dropped silently: if the projection or an action fails, the rule's ``errorAction``
receives a message shaped like IoT Core's error action payload; if that fails too, it is logged.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gridshare.kernel import clock
from gridshare_local.pki import common_name_of

logger = logging.getLogger(__name__)

SQL_VERSION = "2016-03-23"
_RULE_NAME_RE = re.compile(r"^[a-zA-Z0-9_]{1,128}$")

Message = dict[str, Any]
Action = dict[str, Any]
Deliver = Callable[["TopicRule", Action, Message], None]


class RuleError(ValueError):
    """A rule that cannot be loaded, or a message its SQL cannot be evaluated on."""


# ---------------------------------------------------------------------- topic filters
def validate_topic_filter(topic_filter: str) -> None:
    """Raise RuleError unless ``topic_filter`` is a valid MQTT filter (``+`` and ``#`` whole levels).

    paho matches any string as a filter (``a#`` literally) and offers no public validator, so a rule
    with a filter Mosquitto or IoT Core would refuse is refused here, at load time.
    """
    if not topic_filter:
        raise RuleError("empty topic filter")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise RuleError(f"topic filter {topic_filter!r}: '#' must be the whole last level")
        if "+" in level and level != "+":
            raise RuleError(f"topic filter {topic_filter!r}: '+' must be a whole level")


# ---------------------------------------------------------------------- SQL subset
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<punct>[(),*;])|(?P<bad>\S))"
)


@dataclass(frozen=True)
class _Token:
    kind: str  # string | number | name | punct | end
    value: str


def _tokenize(sql: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(sql):
        match = _TOKEN_RE.match(sql, position)
        if match is None:  # only trailing whitespace is left
            break
        position = match.end()
        kind = match.lastgroup
        if kind is None:
            break
        if kind == "bad":
            raise RuleError(f"unexpected character {match.group(kind)!r} in SQL at offset {match.start(kind)}")
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        tokens.append(_Token(kind, value))
    tokens.append(_Token("end", ""))
    return tokens


@dataclass(frozen=True)
class SelectItem:
    """One parsed SELECT item. ``function`` is ``*``, ``encode``, ``topic``, ``timestamp`` or ``clientid``."""

    function: str
    alias: str | None = None
    argument: int | None = None  # topic(n)


class _Parser:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = _tokenize(sql)
        self.position = 0

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def keyword(self, token: _Token, word: str) -> bool:
        return token.kind == "name" and token.value.upper() == word

    def expect_punct(self, value: str, context: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.value != value:
            raise RuleError(f"expected {value!r} {context}, found {token.value or 'end of SQL'!r}")

    def parse(self) -> tuple[list[SelectItem], str]:
        if not self.keyword(self.take(), "SELECT"):
            raise RuleError("SQL must start with SELECT")
        items = [self.item()]
        while self.peek().kind == "punct" and self.peek().value == ",":
            self.take()
            items.append(self.item())
        if not self.keyword(self.take(), "FROM"):
            raise RuleError(
                "expected FROM after the SELECT list (supported items: *, encode(*, 'base64'), "
                "topic(), topic(n), timestamp(), clientid())"
            )
        source = self.take()
        if source.kind != "string":
            raise RuleError("FROM needs a quoted topic filter, e.g. FROM 'gs/v1/+/telemetry'")
        validate_topic_filter(source.value)
        trailing = self.take()
        if trailing.kind == "punct" and trailing.value == ";":
            trailing = self.take()
        if self.keyword(trailing, "WHERE"):
            raise RuleError(
                "WHERE clauses are not supported by the local rule bridge; filter in the target function instead"
            )
        if trailing.kind != "end":
            raise RuleError(f"unexpected {trailing.value!r} after FROM '{source.value}'")
        aliases = [item.alias for item in items if item.alias is not None]
        duplicates = sorted({a for a in aliases if aliases.count(a) > 1})
        if duplicates:
            raise RuleError(f"duplicate aliases in SELECT: {', '.join(duplicates)}")
        return items, source.value

    def item(self) -> SelectItem:
        token = self.take()
        if token.kind == "punct" and token.value == "*":
            if self.keyword(self.peek(), "AS"):
                raise RuleError("'* AS alias' is not supported; use encode(*, 'base64') AS alias")
            return SelectItem("*")
        if token.kind != "name":
            raise RuleError(f"unsupported SELECT item starting with {token.value or 'end of SQL'!r}")
        function = token.value.lower()
        if self.peek().kind != "punct" or self.peek().value != "(":
            raise RuleError(
                f"unsupported SELECT item {token.value!r}: payload fields are not supported, "
                "only *, encode(*, 'base64'), topic(), topic(n), timestamp(), clientid()"
            )
        self.take()
        argument: int | None = None
        if function == "encode":
            self.expect_punct("*", "as the first argument of encode (only encode(*, 'base64') is supported)")
            self.expect_punct(",", "in encode(*, 'base64')")
            scheme = self.take()
            if scheme.kind != "string" or scheme.value != "base64":
                raise RuleError(f"encode supports only 'base64', not {scheme.value!r}")
        elif function == "topic":
            if self.peek().kind == "number":
                argument = int(self.take().value)
                if argument < 1:
                    raise RuleError("topic(n) counts levels from 1")
        elif function not in ("timestamp", "clientid"):
            raise RuleError(f"unsupported SQL function {token.value}(); supported: encode, topic, timestamp, clientid")
        self.expect_punct(")", f"to close {token.value}(")
        if not self.keyword(self.take(), "AS"):
            raise RuleError(f"{token.value}() needs an alias: {token.value}(...) AS name")
        alias = self.take()
        if alias.kind != "name":
            raise RuleError(f"expected an alias name after AS, found {alias.value or 'end of SQL'!r}")
        return SelectItem(function, alias.value, argument)


def parse_sql(sql: str) -> tuple[list[SelectItem], str]:
    """Parse a rule's SQL into its SELECT items and its topic filter, or raise RuleError."""
    return _Parser(sql).parse()


# ---------------------------------------------------------------------- rules
def _action_kind(action: Mapping[str, Any]) -> str:
    return next(iter(action))


@dataclass
class TopicRule:
    """One IoT topic rule, as in an ``iot_rules/*.json`` file (the CDK app reads the same files)."""

    name: str
    sql: str
    actions: list[Action]
    error_action: Action | None = None
    description: str = ""
    sql_version: str = SQL_VERSION
    disabled: bool = False
    source: str = "<dict>"
    select: list[SelectItem] = field(init=False)
    topic_filter: str = field(init=False)

    def __post_init__(self) -> None:
        where = f"{self.source}: rule {self.name!r}"
        if not _RULE_NAME_RE.fullmatch(self.name):
            raise RuleError(f"{where}: rule names are 1-128 characters of letters, digits and '_'")
        if self.sql_version != SQL_VERSION:
            raise RuleError(f"{where}: awsIotSqlVersion must be {SQL_VERSION!r}, got {self.sql_version!r}")
        if not self.actions:
            raise RuleError(f"{where}: a rule needs at least one action")
        for action in [*self.actions, *([self.error_action] if self.error_action else [])]:
            if not isinstance(action, dict) or len(action) != 1 or not isinstance(next(iter(action.values())), dict):
                raise RuleError(
                    f"{where}: each action is an object with one key, e.g. "
                    f'{{"sqs": {{"queue": "name"}}}}; got {action!r}'
                )
        try:
            self.select, self.topic_filter = parse_sql(self.sql)
        except RuleError as exc:
            raise RuleError(f"{where}: {exc} (SQL: {self.sql})") from exc

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any], source: str = "<dict>") -> TopicRule:
        """Build a rule from the JSON of an ``iot_rules/*.json`` file.

        Keys follow CloudFormation's TopicRulePayload (``sql``, ``awsIotSqlVersion``, ``actions``,
        ``errorAction``, ``ruleDisabled``) plus ``name``, so the CDK app can pass them through.
        """
        missing = [key for key in ("name", "sql", "actions") if key not in definition]
        if missing:
            raise RuleError(f"{source}: missing {', '.join(missing)}")
        return cls(
            name=definition["name"],
            sql=definition["sql"],
            actions=list(definition["actions"]),
            error_action=definition.get("errorAction"),
            description=definition.get("description", ""),
            sql_version=definition.get("awsIotSqlVersion", "2015-10-08"),
            disabled=bool(definition.get("ruleDisabled", False)),
            source=source,
        )

    def matches(self, topic: str) -> bool:
        """True if a message on ``topic`` triggers this rule (its FROM filter matches)."""
        return mqtt.topic_matches_sub(self.topic_filter, topic)

    def project(self, topic: str, payload: bytes, client_id: str | None = None, now_ms: int | None = None) -> Message:
        """Evaluate the SELECT list on one message. Raises RuleError if ``*`` meets a non-JSON payload."""
        now = clock.now_ms() if now_ms is None else now_ms
        result: Message = {}
        for item in self.select:
            if item.function == "*":
                result.update(_json_object(payload))
                continue
            assert item.alias is not None  # the parser requires aliases on functions
            if item.function == "encode":
                result[item.alias] = base64.b64encode(payload).decode("ascii")
            elif item.function == "topic":
                if item.argument is None:
                    result[item.alias] = topic
                else:
                    levels = topic.split("/")
                    if item.argument <= len(levels):
                        result[item.alias] = levels[item.argument - 1]
            elif item.function == "timestamp":
                result[item.alias] = now
            elif item.function == "clientid" and client_id is not None:
                result[item.alias] = client_id
        return result


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuleError(f"SELECT * needs a JSON payload: {exc}") from exc
    if not isinstance(value, dict):
        raise RuleError(f"SELECT * needs a JSON object payload, got {type(value).__name__}")
    return value


def load_rules(directory: Path) -> list[TopicRule]:
    """Load every ``*.json`` rule directly in ``directory`` (not subdirectories: ``schemas/`` holds
    message schemas). Raises RuleError naming the file for a rule that cannot be used."""
    rules: list[TopicRule] = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            definition = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RuleError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(definition, dict):
            raise RuleError(f"{path}: a rule file holds one JSON object")
        rules.append(TopicRule.from_definition(definition, source=str(path)))
    names = [rule.name for rule in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RuleError(f"{directory}: duplicate rule names: {', '.join(duplicates)}")
    return rules


# ---------------------------------------------------------------------- bridge
_RESOURCE_KEYS = ("queueUrl", "queue", "functionArn", "tableName", "topicArn", "bucketName", "streamName")


def _failure(action: Action, message: str) -> dict[str, str]:
    kind = _action_kind(action)
    config = action[kind]
    resource = next((str(config[k]) for k in _RESOURCE_KEYS if k in config), "")
    return {"failedAction": f"{kind[:1].upper()}{kind[1:]}Action", "failedResource": resource, "errorMessage": message}


@dataclass
class BridgeStats:
    """Counters for diagnostics and tests (written only by the MQTT network thread)."""

    messages: int = 0
    delivered: int = 0
    errors: int = 0  # failures handed to an error action
    dropped: int = 0  # failures with no error action, or whose error action failed too (logged)


class RuleBridge:
    """Subscribes to every rule's topic filter on the local broker and delivers projected messages.

    ``deliver(rule, action, message)`` is called in paho's network thread, once per action of each
    matching rule, and the QoS 1 PUBACK goes out only after it returns, so a crash mid-delivery leaves the
    message with the broker (the session outlives short disconnects) rather than losing it.
    """

    def __init__(
        self,
        rules: Iterable[TopicRule],
        host: str,
        port: int,
        cert_path: Path,
        key_path: Path,
        ca_path: Path,
        deliver: Deliver,
        *,
        keepalive: int = 30,
        session_expiry_s: int = 300,
    ) -> None:
        self.rules = [rule for rule in rules if not rule.disabled]
        self.host, self.port = host, port
        self.cert_path, self.key_path, self.ca_path = Path(cert_path), Path(key_path), Path(ca_path)
        self.deliver = deliver
        self.keepalive = keepalive
        self.session_expiry_s = session_expiry_s
        # Mosquitto forces client id = certificate CN; using it ourselves keeps logs and sessions coherent.
        self.client_id = common_name_of(self.cert_path.read_bytes())
        # One subscription per distinct filter, numbered by MQTT 5 subscription identifiers: with
        # overlapping filters Mosquitto sends one copy per subscription, and the identifiers tell which
        # rules each copy is for, so a rule never runs twice for one message.
        self._filters: dict[str, list[TopicRule]] = {}
        for rule in self.rules:
            self._filters.setdefault(rule.topic_filter, []).append(rule)
        self._filter_by_id = dict(enumerate(self._filters, start=1))
        self.stats = BridgeStats()
        self._client: mqtt.Client | None = None
        self._pending: dict[int, str] = {}
        self._ready = threading.Event()
        self._failure: str | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> None:
        """Connect (mutual TLS, MQTT 5), subscribe QoS 1 to each filter and wait for every SUBACK.

        Raises RuntimeError if the TLS handshake or CONNECT is refused or a subscription is not granted.
        """
        if self._client is not None:
            raise RuntimeError("rule bridge already started")
        if not self._filters:
            logger.warning("rule bridge has no enabled rules: nothing to subscribe to")
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_path))
        context.load_cert_chain(str(self.cert_path), str(self.key_path))
        client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry_s
        self._ready.clear()
        self._failure = None
        try:
            client.connect(self.host, self.port, keepalive=self.keepalive, properties=properties)
        except (OSError, ssl.SSLError) as exc:
            raise RuntimeError(f"rule bridge cannot connect to {self.host}:{self.port}: {exc}") from exc
        # Drive the first CONNECT/SUBSCRIBE exchange from this thread: with TLS 1.3 a refused client
        # certificate only shows once connect() has returned, and paho's background loop would hide it
        # behind automatic reconnects (not always calling on_disconnect) until the timeout.
        deadline = time.monotonic() + timeout
        while not self._ready.is_set() and self._failure is None:
            rc = client.loop(timeout=0.05)
            if rc != mqtt.MQTT_ERR_SUCCESS and self._failure is None:
                self._failure = f"connection lost before subscribing: {mqtt.error_string(rc)} (see the broker log)"
            elif time.monotonic() > deadline:
                self._failure = f"not subscribed within {timeout}s"
        if self._failure is not None:
            client.disconnect()
            raise RuntimeError(f"rule bridge failed to start: {self._failure}")
        self._client = client
        client.loop_start()
        logger.info("rule bridge %s subscribed to %s", self.client_id, ", ".join(self._filters))

    def stop(self) -> None:
        """Disconnect and stop the network thread. Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def __enter__(self) -> RuleBridge:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ paho callbacks
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._failure = f"CONNECT refused: {reason_code}"
            logger.error("rule bridge connection refused: %s", reason_code)
            return
        if not self._filters:
            self._ready.set()
            return
        with self._lock:
            self._pending.clear()
            for subscription_id, topic_filter in self._filter_by_id.items():
                sub_properties = Properties(PacketTypes.SUBSCRIBE)
                sub_properties.SubscriptionIdentifier = subscription_id
                # Rules fire on publishes, never on retained messages replayed at subscribe time.
                options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
                result, mid = client.subscribe(topic_filter, options=options, properties=sub_properties)
                if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
                    self._failure = f"SUBSCRIBE {topic_filter} failed: {mqtt.error_string(result)}"
                    return
                self._pending[mid] = topic_filter

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._lock:
            topic_filter = self._pending.pop(mid, None)
            if topic_filter is None:
                return
            refused = [str(code) for code in reason_codes if code.is_failure]
            if refused:
                self._failure = f"SUBSCRIBE {topic_filter} refused: {', '.join(refused)}"
                logger.error("rule bridge: %s", self._failure)
            elif not self._pending:
                self._ready.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._client is None:  # start() failing, or our own stop()
            return
        logger.warning("rule bridge disconnected (%s); paho reconnects", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        ids: Sequence[int] | None = getattr(message.properties, "SubscriptionIdentifier", None)
        try:
            self.handle(message.topic, message.payload, subscription_ids=ids)
        except Exception:  # an exception escaping a callback would stop paho's network thread
            logger.exception("rule bridge failed on a message on %s", message.topic)

    # ------------------------------------------------------------------ evaluation
    def rules_for(self, topic: str, subscription_ids: Sequence[int] | None = None) -> list[TopicRule]:
        """The rules one delivered copy of a message on ``topic`` is for."""
        if subscription_ids:
            filters = [self._filter_by_id[i] for i in subscription_ids if i in self._filter_by_id]
        else:  # broker without subscription identifiers: evaluate every matching filter
            filters = list(self._filters)
        return [rule for f in filters if mqtt.topic_matches_sub(f, topic) for rule in self._filters[f]]

    def handle(
        self,
        topic: str,
        payload: bytes,
        client_id: str | None = None,
        now_ms: int | None = None,
        subscription_ids: Sequence[int] | None = None,
    ) -> None:
        """Apply every matching rule to one message: project, deliver to each action, report failures."""
        self.stats.messages += 1
        now = clock.now_ms() if now_ms is None else now_ms
        for rule in self.rules_for(topic, subscription_ids):
            try:
                projected = rule.project(topic, payload, client_id=client_id, now_ms=now)
            except Exception as exc:
                reason = f"rule SQL evaluation failed: {exc}"
                self._report(rule, topic, payload, client_id, [_failure(a, reason) for a in rule.actions])
                continue
            failures = []
            for action in rule.actions:
                try:
                    self.deliver(rule, action, projected)
                    self.stats.delivered += 1
                except Exception as exc:
                    logger.warning("rule %s: action %s failed: %s", rule.name, _action_kind(action), exc)
                    failures.append(_failure(action, f"{type(exc).__name__}: {exc}"))
            if failures:
                self._report(rule, topic, payload, client_id, failures)

    def _report(
        self, rule: TopicRule, topic: str, payload: bytes, client_id: str | None, failures: list[dict[str, str]]
    ) -> None:
        encoded = base64.b64encode(payload).decode("ascii")
        error: Message = {
            "ruleName": rule.name,
            "topic": topic,
            "cloudwatchTraceId": str(uuid.uuid4()),
            # IoT Core's field name, so consumers of the error queue work unchanged in AWS ...
            "base64OriginalPayload": encoded,
            # ... and the name the local stack's consumers were specified with.
            "payloadBase64": encoded,
            "failures": failures,
        }
        if client_id is not None:
            error["clientId"] = client_id
        if rule.error_action is None:
            self.stats.dropped += 1
            logger.error("rule %s failed on %s and has no errorAction: %s", rule.name, topic, failures)
            return
        try:
            self.deliver(rule, rule.error_action, error)
            self.stats.errors += 1
        except Exception:
            self.stats.dropped += 1
            logger.exception("rule %s: errorAction failed too; message on %s lost: %s", rule.name, topic, failures)
