"""``mention-monitor secrets put``: merges into the JSON secret, prints key names, never values."""

from __future__ import annotations

import argparse
import io
import json
import os

import boto3
import pytest

from mention_monitor.cli import main
from mention_monitor.errors import SecretsError
from mention_monitor.secrets_put import KNOWN_KEYS, put_secrets

TOKEN = "AAAA-bearer-value-0123456789"
HOOK = "https://hooks.example.invalid/services/T0/B0/webhook-secret-part"
EMPTY = json.dumps(dict.fromkeys(KNOWN_KEYS, ""))


def args(secret_id: str, keys: str | None = None, stdin: bool = False, config: str | None = None):
    return argparse.Namespace(secret_id=secret_id, keys=keys, stdin=stdin, config=config)


@pytest.fixture
def secret(moto_aws, tmp_path, monkeypatch) -> str:
    monkeypatch.chdir(tmp_path)  # anything written to the working directory would show up here
    return boto3.client("secretsmanager").create_secret(Name="mm", SecretString=EMPTY)["ARN"]


def current(secret_id: str) -> dict[str, str]:
    raw = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    data: dict[str, str] = json.loads(raw)
    return data


def versions(secret_id: str) -> int:
    resp = boto3.client("secretsmanager").list_secret_version_ids(SecretId=secret_id)
    return len(resp["Versions"])


def test_stdin_merges_and_prints_only_changed_key_names(secret, tmp_path):
    out = io.StringIO()
    stdin = io.StringIO(json.dumps({"x_bearer_token": TOKEN, "slack_webhook_url": HOOK}))
    assert put_secrets(args(secret, stdin=True), stdin=stdin, stdout=out) == 0
    assert json.loads(out.getvalue()) == {
        "ok": True, "secret_id": secret, "changed": ["slack_webhook_url", "x_bearer_token"]
    }
    data = current(secret)
    assert data["x_bearer_token"] == TOKEN and data["slack_webhook_url"] == HOOK
    assert set(data) == set(KNOWN_KEYS)  # the other keys are kept
    assert TOKEN not in out.getvalue() and HOOK not in out.getvalue()
    assert os.listdir(tmp_path) == []  # nothing written to disk


def test_same_values_change_nothing_and_write_no_version(secret):
    put_secrets(args(secret, stdin=True), stdin=io.StringIO(json.dumps({"x_bearer_token": TOKEN})),
                stdout=io.StringIO())
    before = versions(secret)
    out = io.StringIO()
    put_secrets(args(secret, stdin=True), stdin=io.StringIO(json.dumps({"x_bearer_token": TOKEN})),
                stdout=out)
    assert json.loads(out.getvalue())["changed"] == []
    assert versions(secret) == before


def test_prompts_are_hidden_and_empty_answers_keep_the_current_value(secret):
    asked: list[str] = []
    answers = {"x_bearer_token": TOKEN, "slack_webhook_url": ""}

    def ask(prompt: str) -> str:
        key = prompt.split(" ", 1)[0]
        asked.append(key)
        return answers[key]

    out = io.StringIO()
    code = put_secrets(args(secret, keys="x_bearer_token,slack_webhook_url"), ask=ask,
                       stdin=io.StringIO(), stdout=out)
    assert code == 0 and asked == ["x_bearer_token", "slack_webhook_url"]
    assert json.loads(out.getvalue())["changed"] == ["x_bearer_token"]
    assert current(secret)["slack_webhook_url"] == ""


def test_prompts_default_to_every_known_key(secret):
    asked: list[str] = []
    put_secrets(args(secret), ask=lambda p: asked.append(p.split(" ", 1)[0]) or "",
                stdin=io.StringIO(), stdout=io.StringIO())
    assert asked == list(KNOWN_KEYS)


def test_stdin_keys_outside_keys_are_refused_without_echoing_values(secret):
    stdin = io.StringIO(json.dumps({"x_bearer_token": TOKEN, "smtp_password": "hunter22-pass"}))
    with pytest.raises(SecretsError) as exc:
        put_secrets(args(secret, keys="x_bearer_token", stdin=True), stdin=stdin,
                    stdout=io.StringIO())
    assert "smtp_password" in str(exc.value)
    assert TOKEN not in str(exc.value) and "hunter22" not in str(exc.value)
    assert current(secret)["x_bearer_token"] == ""


@pytest.mark.parametrize(
    "body", ["not json " + TOKEN, json.dumps([TOKEN]), json.dumps({"x_bearer_token": 5})]
)
def test_cli_rejects_bad_stdin_in_one_line(secret, monkeypatch, capsys, body):
    monkeypatch.setattr("sys.stdin", io.StringIO(body))
    assert main(["secrets", "put", "--secret-id", secret, "--stdin"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("mention-monitor: secrets put: --stdin needs one JSON object")
    assert TOKEN not in captured.err and "Traceback" not in captured.err


def test_cli_missing_secret_is_one_line(moto_aws, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"x_bearer_token": TOKEN})))
    assert main(["secrets", "put", "--secret-id", "nope", "--stdin"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "mention-monitor: secrets put: cannot read secret 'nope': ResourceNotFoundException"
    )


def test_without_a_terminal_prompts_are_refused(secret, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["secrets", "put", "--secret-id", secret]) == 2
    assert "use --stdin" in capsys.readouterr().err


def test_a_secret_that_is_not_a_json_object_is_left_alone(moto_aws):
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="plain", SecretString="plain-text-credential")["ARN"]
    with pytest.raises(SecretsError) as exc:
        put_secrets(args(arn, stdin=True), stdin=io.StringIO('{"x_bearer_token": "abcd1234"}'),
                    stdout=io.StringIO())
    assert "plain-text-credential" not in str(exc.value)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "plain-text-credential"


def test_with_config_the_prompts_ask_for_what_it_needs(secret, tmp_path):
    from tests.conftest import basic_config

    cfg = basic_config(tmp_path, "http://127.0.0.1:9")
    asked: list[str] = []
    put_secrets(args(secret, config=str(cfg)), ask=lambda p: asked.append(p.split(" ", 1)[0]) or "",
                stdin=io.StringIO(), stdout=io.StringIO())
    assert asked == ["x_bearer_token"]
