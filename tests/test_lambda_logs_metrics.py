"""Powertools in the handler: Lambda context on every log line, secrets masked, one EMF record."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest
from mention_monitor import handler as handler_mod
from mention_monitor.logs import LAMBDA_LOGGER, MASK, configure_logging, register_secret

from tests.conftest import basic_config
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.xapi import make_posts

TOKEN = "AAAA-bearer-for-the-log-tests-77"
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
METRICS = ["RunSucceeded", "RunFailed", "MentionsFound", "PostsRead", "ApiRequests"]


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def context_keys(ctx: FakeLambdaContext, cold: bool) -> dict:
    return {
        "service": "mention-monitor",
        "cold_start": cold,
        "function_name": ctx.function_name,
        "function_memory_size": ctx.memory_limit_in_mb,
        "function_arn": ctx.invoked_function_arn,
        "function_request_id": ctx.aws_request_id,
        "xray_trace_id": "1-5759e988-bd862e3fe1be46a994272793",
    }


@pytest.fixture
def lambda_env(tmp_path, fake_x, monkeypatch):
    """A config at DEBUG (so the core's and notifiers' module loggers speak), env secrets."""
    cfg = basic_config(tmp_path, fake_x.url, extra='log_level = "DEBUG"')
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(cfg))
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FakeLambdaContext.function_name)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    return fake_x


def test_every_log_line_carries_the_invocation(lambda_env, capsys):
    lambda_env.add_posts(make_posts(3, first_id=700))
    first = FakeLambdaContext()
    handler_mod.handler({}, first)
    out, err = capsys.readouterr()
    logged = lines(err)
    # stdout holds the EMF record and nothing else; every log line is JSON on stderr
    assert [set(r) for r in lines(out)] == [{"_aws", "FunctionName", *METRICS}]
    loggers = {r["location"].rsplit(".", 1)[0] for r in logged}
    assert {"mention_monitor.handler", "mention_monitor.xsource"} <= loggers, loggers
    for record in logged:
        assert {k: record[k] for k in context_keys(first, True)} == context_keys(first, True)
        assert RFC3339_UTC.match(record["timestamp"]), record["timestamp"]
        assert TOKEN not in json.dumps(record)
    finished = next(r for r in logged if r["message"] == "run finished")
    assert re.fullmatch(r"mention_monitor\.handler\.handler:\d+", finished["location"])
    assert set(finished) == {
        "level",
        "location",
        "message",
        "timestamp",
        "summary",
        *context_keys(first, True),
    }
    assert finished["level"] == "INFO" and finished["summary"]["watches"]["Acme"]["found"] == 3

    # warm: the next invocation's lines carry its own request id and cold_start false
    second = FakeLambdaContext(aws_request_id="6f1b2c3d-0000-4000-8000-00000000a002")
    handler_mod.handler({}, second)
    logged = lines(capsys.readouterr().err)
    assert logged
    for record in logged:
        assert {k: record[k] for k in context_keys(second, False)} == context_keys(second, False)


def test_a_new_container_is_cold_again(lambda_env, capsys):
    handler_mod.handler({}, FakeLambdaContext())
    handler_mod.reset_container()
    handler_mod.handler({}, FakeLambdaContext())
    starts = {r["cold_start"] for r in lines(capsys.readouterr().err)}
    assert starts == {True}


def test_secret_masked_in_a_powertools_line_with_a_traceback(monkeypatch):
    # A value JSON must escape (quote, backslash) and one it keeps as is (non-ASCII).
    secret = 'sk-"q"\\ü-0123456789'
    register_secret(secret)
    buf = io.StringIO()
    configure_logging("DEBUG", stream=buf)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    ctx = FakeLambdaContext()

    @LAMBDA_LOGGER.inject_lambda_context
    def invoke(event: dict, context: FakeLambdaContext) -> None:
        try:
            raise RuntimeError(f"refused credential {secret}")
        except RuntimeError:
            logging.getLogger("mention_monitor.xsource").exception(
                "call failed with %s", secret, extra={"credential": secret}
            )

    invoke({}, ctx)
    text = buf.getvalue()
    for form in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
        assert form not in text
    [record] = lines(text)
    assert {k: record[k] for k in context_keys(ctx, True)} == context_keys(ctx, True)
    assert record["level"] == "ERROR"
    assert record["message"] == f"call failed with {MASK}"
    assert record["credential"] == MASK
    assert record["exception_name"] == "RuntimeError"
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert record["exception"].endswith(f"RuntimeError: refused credential {MASK}")
    assert record["stack_trace"]["type"] == "RuntimeError"
    assert record["stack_trace"]["value"] == f"refused credential {MASK}"
    assert record["stack_trace"]["frames"][-1]["function"] == "invoke"


def summary(ok: bool) -> dict:
    return {
        "ok": ok,
        "watches": {
            "Acme": {"found": 3, "posts_read": 5, "api_requests": 2},
            "Beta": {"found": 0, "posts_read": 0, "api_requests": 1},
        },
    }


@pytest.mark.parametrize(
    ("ok", "succeeded", "failed"), [(True, [1.0], [0.0]), (False, [0.0], [1.0])]
)
def test_emf_record_has_exactly_one_dimension_set(monkeypatch, ok, succeeded, failed):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "mm-fn")
    # None of these may change the record the SilenceAlarm depends on.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "mention-monitor")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SomethingElse")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    buf = io.StringIO()
    before = int(time.time() * 1000)
    handler_mod.emit_metrics(summary(ok), buf)
    after = int(time.time() * 1000)
    [line] = buf.getvalue().splitlines()
    record = json.loads(line)
    assert before - 1000 <= record["_aws"].pop("Timestamp") <= after + 1000
    assert record == {
        "_aws": {
            "CloudWatchMetrics": [
                {
                    "Namespace": "MentionMonitor",
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in METRICS],
                }
            ]
        },
        "FunctionName": "mm-fn",
        "RunSucceeded": succeeded,
        "RunFailed": failed,
        "MentionsFound": [3.0],
        "PostsRead": [5.0],
        "ApiRequests": [3.0],
    }


def test_emf_records_do_not_accumulate_across_runs(monkeypatch):
    buf = io.StringIO()
    handler_mod.emit_metrics(summary(True), buf)
    handler_mod.emit_metrics(summary(False), buf)
    first, second = (json.loads(line) for line in buf.getvalue().splitlines())
    assert (first["RunSucceeded"], second["RunSucceeded"]) == ([1.0], [0.0])
    assert first["FunctionName"] == second["FunctionName"] == "local"
