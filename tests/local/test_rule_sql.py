"""The local rules engine's SQL subset, topic matching and error handling, without a broker."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import topic_matches_sub as topic_matches

from gridshare_local.rule_bridge import (
    RuleBridge,
    RuleError,
    TopicRule,
    load_rules,
    parse_sql,
    validate_topic_filter,
)

REPO = Path(__file__).resolve().parents[2]
TELEMETRY_SQL = (
    "SELECT encode(*, 'base64') AS payload, topic(3) AS thing_name, timestamp() AS received_at FROM 'gs/v1/+/telemetry'"
)


def rule(sql: str, name: str = "r1", **kwargs: Any) -> TopicRule:
    return TopicRule(name=name, sql=sql, actions=[{"sqs": {"queue": "q"}}], **kwargs)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("gs/v1/+/telemetry", "gs/v1/meter-1/telemetry", True),
        ("gs/v1/+/telemetry", "gs/v1/meter-1/heartbeat", False),
        ("gs/v1/+/telemetry", "gs/v1/meter-1/telemetry/extra", False),
        ("gs/v1/+/telemetry", "gs/v1/telemetry", False),
        ("gs/v1/#", "gs/v1/meter-1/commands/ack", True),
        ("gs/v1/#", "gs/v1", True),  # '#' also matches the parent level
        ("gs/v1/#", "gs/v2/x", False),
        ("#", "gs/v1/x", True),
        ("#", "$aws/things/x/shadow/update", False),  # wildcards never match $ topics at level 1
        ("+/things/x/shadow/update", "$aws/things/x/shadow/update", False),
        ("$aws/things/+/shadow/update", "$aws/things/x/shadow/update", True),
        ("gs/v1/+/+", "gs/v1//telemetry", True),  # empty levels are levels
        ("a/b", "a/b", True),
        ("a/b", "a/b/", False),
    ],
)
def test_topic_matching(topic_filter: str, topic: str, expected: bool) -> None:
    # paho's matcher (what the bridge uses) agrees with IoT Core on each case, and a rule matches likewise
    assert topic_matches(topic_filter, topic) is expected
    assert rule(f"SELECT * FROM '{topic_filter}'").matches(topic) is expected


@pytest.mark.parametrize("bad", ["", "gs/#/x", "gs/v1/meter+/telemetry", "gs/v1/#x", "gs/v1/a#"])
def test_invalid_topic_filters(bad: str) -> None:
    with pytest.raises(RuleError):
        validate_topic_filter(bad)


def test_telemetry_projection() -> None:
    payload = b'{"seq": 7, "metrics": {"power_w": 1200}}'
    projected = rule(TELEMETRY_SQL).project("gs/v1/meter-42/telemetry", payload, now_ms=1_700_000_000_123)
    assert projected == {
        "payload": base64.b64encode(payload).decode(),
        "thing_name": "meter-42",
        "received_at": 1_700_000_000_123,
    }


def test_encode_keeps_non_json_payloads() -> None:
    payload = b"\x00\xffnot json"
    projected = rule(TELEMETRY_SQL).project("gs/v1/m/telemetry", payload)
    assert base64.b64decode(projected["payload"]) == payload
    assert isinstance(projected["received_at"], int)


def test_star_merges_json_and_later_items_win() -> None:
    r = rule("SELECT *, topic() AS topic, topic(1) AS root, clientid() AS client FROM 'gs/#'")
    projected = r.project("gs/v1/m/telemetry", b'{"topic": "spoofed", "v": 1}', client_id="m")
    assert projected == {"topic": "gs/v1/m/telemetry", "v": 1, "root": "gs", "client": "m"}


def test_undefined_values_are_omitted() -> None:
    r = rule("SELECT topic(9) AS deep, clientid() AS client, topic(2) AS second FROM 'gs/#'")
    assert r.project("gs/v1/m", b"") == {"second": "v1"}


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b"42", b"\xff\xfe"])
def test_star_on_non_object_payload_raises(payload: bytes) -> None:
    with pytest.raises(RuleError, match="SELECT \\*"):
        rule("SELECT * FROM 'gs/#'").project("gs/v1/m/telemetry", payload)


def test_keywords_and_functions_are_case_insensitive() -> None:
    r = rule("select Encode(*, 'base64') as p, TOPIC(3) As t from 'gs/v1/+/telemetry';")
    assert r.project("gs/v1/m/telemetry", b"x") == {"p": "eA==", "t": "m"}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM 'gs/v1/+/telemetry' WHERE seq > 1", "WHERE"),
        ("SELECT temperature FROM 'gs/#'", "payload fields are not supported"),
        ("SELECT upper(topic()) AS t FROM 'gs/#'", "unsupported SQL function"),
        ("SELECT encode(*, 'hex') AS p FROM 'gs/#'", "only 'base64'"),
        ("SELECT encode(payload, 'base64') AS p FROM 'gs/#'", "first argument of encode"),
        ("SELECT topic(3) FROM 'gs/#'", "needs an alias"),
        ("SELECT topic(0) AS t FROM 'gs/#'", "from 1"),
        ("SELECT * AS everything FROM 'gs/#'", "not supported"),
        ("SELECT topic() AS a, timestamp() AS a FROM 'gs/#'", "duplicate aliases"),
        ("SELECT * FROM telemetry", "quoted topic filter"),
        ("SELECT * FROM 'gs/#x'", "'#'"),
        ("SELECT *", "expected FROM"),
        ("DELETE FROM 'gs/#'", "start with SELECT"),
        ("SELECT * FROM 'gs/#' LIMIT 1", "unexpected 'LIMIT'"),
        ("SELECT * FROM 'gs/#' \"x\"", "unexpected character"),
        ("SELECT timestamp( AS t FROM 'gs/#'", "expected ')'"),
    ],
)
def test_sql_outside_the_subset_fails_at_load(sql: str, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)) as info:
        rule(sql)
    assert "r1" in str(info.value)  # the error names the rule


def test_rule_definition_checks() -> None:
    with pytest.raises(RuleError, match="awsIotSqlVersion"):
        rule(TELEMETRY_SQL, sql_version="2015-10-08")
    with pytest.raises(RuleError, match="at least one action"):
        TopicRule(name="r", sql=TELEMETRY_SQL, actions=[])
    with pytest.raises(RuleError, match="one key"):
        TopicRule(name="r", sql=TELEMETRY_SQL, actions=[{"sqs": {}, "lambda": {}}])
    with pytest.raises(RuleError, match="rule names"):
        rule(TELEMETRY_SQL, name="has-dash")
    with pytest.raises(RuleError, match="missing sql"):
        TopicRule.from_definition({"name": "r", "actions": []})
    # CloudFormation's default SQL version is 2015-10-08: a rule file must say 2016-03-23 explicitly.
    with pytest.raises(RuleError, match="awsIotSqlVersion"):
        TopicRule.from_definition({"name": "r", "sql": TELEMETRY_SQL, "actions": [{"sqs": {"queue": "q"}}]})


def test_parse_sql_returns_items_and_filter() -> None:
    items, topic_filter = parse_sql(TELEMETRY_SQL)
    assert topic_filter == "gs/v1/+/telemetry"
    assert [(i.function, i.alias, i.argument) for i in items] == [
        ("encode", "payload", None),
        ("topic", "thing_name", 3),
        ("timestamp", "received_at", None),
    ]


def test_repository_rules_load() -> None:
    rules = load_rules(REPO / "iot_rules")  # schemas/ is a subdirectory and is not read
    telemetry = next(r for r in rules if r.name == "gs_telemetry_v1")
    assert telemetry.topic_filter == "gs/v1/+/telemetry"
    assert telemetry.actions == [{"sqs": {"queue": "telemetry-ingest"}}]
    assert telemetry.error_action == {"sqs": {"queue": "telemetry-rule-errors"}}


def test_load_rules_reports_the_file(tmp_path: Path) -> None:
    definition = {
        "name": "dup",
        "sql": TELEMETRY_SQL,
        "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queue": "q"}}],
    }
    (tmp_path / "a.json").write_text(json.dumps(definition))
    (tmp_path / "b.json").write_text(json.dumps(definition))
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "c.json").write_text("{not a rule")
    with pytest.raises(RuleError, match="duplicate rule names: dup"):
        load_rules(tmp_path)
    (tmp_path / "b.json").write_text(json.dumps({**definition, "name": "other", "sql": "SELECT x"}))
    with pytest.raises(RuleError, match="b.json"):
        load_rules(tmp_path)


# ---------------------------------------------------------------------- delivery and error actions
class Recorder:
    def __init__(self, fail_on: frozenset[str] | set[str] = frozenset()) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.fail_on = fail_on

    def __call__(self, rule: TopicRule, action: dict[str, Any], message: dict[str, Any]) -> None:
        queue = action["sqs"]["queue"]
        if queue in self.fail_on:
            raise ConnectionError(f"queue {queue} unavailable")
        self.calls.append((rule.name, action, message))


def bridge(rules: list[TopicRule], deliver: Recorder, tmp_path: Path) -> RuleBridge:
    from gridshare_local.pki import LocalCA

    ca = LocalCA.ensure(tmp_path / "ca")
    cert, key = ca.issue_client_cert("gridshare-backend-test", allow_reserved=True)
    (tmp_path / "c.crt").write_text(cert)
    (tmp_path / "c.key").write_text(key)
    return RuleBridge(rules, "127.0.0.1", 1, tmp_path / "c.crt", tmp_path / "c.key", ca.ca_cert_path, deliver)


def star_rule(**kwargs: Any) -> TopicRule:
    return TopicRule(
        name="star",
        sql="SELECT *, topic(3) AS thing FROM 'gs/v1/+/telemetry'",
        sql_version="2016-03-23",
        actions=[{"sqs": {"queue": "ingest"}}],
        error_action={"sqs": {"queue": "errors"}},
        **kwargs,
    )


def test_bridge_delivers_each_action(tmp_path: Path) -> None:
    recorder = Recorder()
    r = TopicRule(name="two", sql=TELEMETRY_SQL, actions=[{"sqs": {"queue": "a"}}, {"sqs": {"queue": "b"}}])
    b = bridge([r], recorder, tmp_path)
    assert b.client_id == "gridshare-backend-test"
    b.handle("gs/v1/m/telemetry", b"{}", now_ms=5)
    b.handle("gs/v1/m/heartbeat", b"{}", now_ms=5)  # matches no rule
    assert [c[1]["sqs"]["queue"] for c in recorder.calls] == ["a", "b"]
    assert recorder.calls[0][2] == {"payload": "e30=", "thing_name": "m", "received_at": 5}
    assert (b.stats.messages, b.stats.delivered, b.stats.errors) == (2, 2, 0)


def test_projection_failure_goes_to_error_action(tmp_path: Path) -> None:
    recorder = Recorder()
    b = bridge([star_rule()], recorder, tmp_path)
    b.handle("gs/v1/m/telemetry", b"\x00garbage", client_id="m")
    [(name, action, error)] = recorder.calls
    assert (name, action) == ("star", {"sqs": {"queue": "errors"}})
    assert error["ruleName"] == "star" and error["topic"] == "gs/v1/m/telemetry"
    assert error["clientId"] == "m"
    assert base64.b64decode(error["payloadBase64"]) == b"\x00garbage"
    assert error["base64OriginalPayload"] == error["payloadBase64"]
    [failure] = error["failures"]
    assert failure["failedAction"] == "SqsAction" and failure["failedResource"] == "ingest"
    assert "SELECT *" in failure["errorMessage"]
    assert b.stats.errors == 1


def test_action_failure_goes_to_error_action(tmp_path: Path) -> None:
    recorder = Recorder(fail_on={"ingest"})
    b = bridge([star_rule()], recorder, tmp_path)
    b.handle("gs/v1/m/telemetry", b'{"v": 1}')
    [(_, action, error)] = recorder.calls
    assert action == {"sqs": {"queue": "errors"}}
    assert "queue ingest unavailable" in error["failures"][0]["errorMessage"]
    assert "clientId" not in error


def test_failed_error_action_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(fail_on={"ingest", "errors"})
    b = bridge([star_rule()], recorder, tmp_path)
    b.handle("gs/v1/m/telemetry", b'{"v": 1}')  # must not raise: it runs in paho's network thread
    assert b.stats.dropped == 1
    assert "errorAction failed too" in caplog.text


def test_subscription_identifiers_select_rules(tmp_path: Path) -> None:
    recorder = Recorder()
    narrow = TopicRule(name="narrow", sql=TELEMETRY_SQL, actions=[{"sqs": {"queue": "n"}}])
    wide = TopicRule(name="wide", sql="SELECT topic() AS t FROM 'gs/v1/#'", actions=[{"sqs": {"queue": "w"}}])
    off = TopicRule(name="off", sql=TELEMETRY_SQL, actions=[{"sqs": {"queue": "x"}}], disabled=True)
    b = bridge([narrow, wide, off], recorder, tmp_path)
    topic = "gs/v1/m/telemetry"
    assert [r.name for r in b.rules_for(topic, [1])] == ["narrow"]
    assert [r.name for r in b.rules_for(topic, [2])] == ["wide"]
    assert [r.name for r in b.rules_for(topic, [1, 2])] == ["narrow", "wide"]
    assert [r.name for r in b.rules_for(topic)] == ["narrow", "wide"]  # no ids: every matching filter
