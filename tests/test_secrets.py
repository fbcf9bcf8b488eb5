"""Secrets from the environment and from AWS Secrets Manager (moto), cached, never shown."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from mention_monitor.errors import SecretsError
from mention_monitor.logs import configure_logging, redact
from mention_monitor.secrets import AwsSecrets, EnvSecrets, make_secret_provider

VALUE = "s3cr3t-Value-0123456789"


def test_env_secrets(monkeypatch):
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", VALUE)
    s = EnvSecrets()
    assert s.get("x_bearer_token") == VALUE
    with pytest.raises(SecretsError) as exc:
        s.get("slack_webhook_url")
    assert "slack_webhook_url" in str(exc.value) and VALUE not in str(exc.value)


def test_aws_secrets_read_once_and_cached(moto_aws):
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="mm/creds", SecretString=json.dumps({"x_bearer_token": VALUE}))
    calls = []
    client = boto3.client("secretsmanager")
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append(1))
    p = AwsSecrets("mm/creds", client=client, ttl_seconds=300)
    assert p.get("x_bearer_token") == VALUE
    p2 = AwsSecrets("mm/creds", client=client, ttl_seconds=300)  # new object, same container
    assert p2.get("x_bearer_token") == VALUE
    assert len(calls) == 1
    with pytest.raises(SecretsError, match="'twilio_auth_token'"):
        p.require(["x_bearer_token", "twilio_auth_token"])


def test_aws_secrets_plain_client_honours_endpoint(moto_aws):
    boto3.client("secretsmanager").create_secret(Name="a", SecretString='{"k": "vvvvv"}')
    assert make_secret_provider("aws", "a", 300).get("k") == "vvvvv"


@pytest.mark.parametrize("raw", ["not json " + VALUE, json.dumps([VALUE]), json.dumps({"k": 5})])
def test_malformed_secret_never_echoes_content(moto_aws, raw):
    boto3.client("secretsmanager").create_secret(Name="bad", SecretString=raw)
    with pytest.raises(SecretsError) as exc:
        AwsSecrets("bad", ttl_seconds=0).get("k")
    assert VALUE not in str(exc.value) and "JSON object" in str(exc.value)


def test_missing_secret_and_unreachable(monkeypatch, moto_aws):
    with pytest.raises(SecretsError, match="ResourceNotFoundException"):
        AwsSecrets("nope", ttl_seconds=0).get("k")


def test_unreachable_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(SecretsError, match="cannot reach Secrets Manager"):
        AwsSecrets("x", ttl_seconds=0).get("k")


def test_logs_mask_loaded_secret_values(monkeypatch, capsys):
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", VALUE)
    EnvSecrets().get("x_bearer_token")
    configure_logging("DEBUG")
    logging.getLogger("t").debug("token is %s", VALUE, extra={"also": VALUE})
    err = capsys.readouterr().err
    assert VALUE not in err and "***" in err
    assert redact(f"x{VALUE}y") == "x***y"
