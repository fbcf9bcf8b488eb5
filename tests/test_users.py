"""Issue 9, users: AWS region, paths relative to the config, errors that say what to set, and
the small things (dry runs, state reset, the handler's dry_run, --config DIR)."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import boto3
import pytest

from mention_monitor import handler as handler_mod
from mention_monitor.cli import main
from mention_monitor.errors import ConfigError
from tests.conftest import REPO, basic_config, summary_line, toml_config
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.xapi import make_posts

TOKEN = "AAAA-users-bearer-0123456789"


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# -- 10. AWS without a region ----------------------------------------------------------------
@pytest.fixture
def no_region(monkeypatch, tmp_path):
    """No region anywhere: not in the environment, not in a profile."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


AWS_SECRETS = '[secrets]\nbackend = "aws"\naws_secret_id = "mm/creds"\n'
DYNAMO_STATE = '[state]\nbackend = "dynamodb"\ntable = "mm-state"\n'


def aws_cfg(tmp_path: Path, sections: str) -> Path:
    return toml_config(
        tmp_path,
        sections
        + '[[watches]]\nname = "Acme"\nterms = ["acme"]\nnotify = ["c"]\n'
        + '[notifiers.c]\ntype = "console"\n',
    )


@pytest.mark.parametrize(
    ("command", "sections", "needed_by"),
    [
        (["check"], AWS_SECRETS, "secrets.backend = 'aws'"),
        (["run"], AWS_SECRETS, "secrets.backend = 'aws'"),
        (["run"], DYNAMO_STATE, "state.backend = 'dynamodb'"),
        (["state", "show"], DYNAMO_STATE, "state.backend = 'dynamodb'"),
        (["secrets", "put", "--secret-id", "mm/creds", "--stdin"], "", "secrets put"),
    ],
    ids=["check", "run-secrets", "run-state", "state-show", "secrets-put"],
)
def test_aws_backend_without_region_is_one_line_exit_2(
    tmp_path, no_region, bearer, monkeypatch, capsys, command, sections, needed_by
):
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"x_bearer_token": "abcdefgh"}'))
    cfg = aws_cfg(tmp_path, sections)
    assert main([*command, "--config", str(cfg)]) == 2
    err = one_line(capsys.readouterr().err)
    assert err == (
        f"mention-monitor: aws: {needed_by} needs an AWS region: set AWS_REGION "
        "(or AWS_DEFAULT_REGION, or region in your AWS profile)\n"
    )


SES_NOTIFIER = """
[x]
source = "replay"
replay_dir = "{replay}"
[state]
path = "{tmp}/state.db"
[[watches]]
name = "Acme"
terms = ["acme"]
first_run = "backfill"
notify = ["mail"]
[notifiers.mail]
type = "email-ses"
sender = "m@example.com"
recipients = ["a@example.com"]
"""


def test_aws_notifier_without_region_check_and_run_say_so_a_dry_run_needs_none(
    tmp_path, no_region, capsys
):
    """``check`` refuses what ``run`` would (one line, exit 2); a dry run sends nothing and
    needs nothing of its notifiers, so it runs."""
    replay = REPO / "examples" / "recorded"
    cfg = toml_config(tmp_path, SES_NOTIFIER.format(replay=replay, tmp=tmp_path))
    expected = (
        "mention-monitor: aws: notifiers.mail (type 'email-ses') needs an AWS region: set "
        "AWS_REGION (or AWS_DEFAULT_REGION, or region in your AWS profile)\n"
    )
    for command in (["check"], ["run"]):
        assert main([*command, "--config", str(cfg)]) == 2
        assert one_line(capsys.readouterr().err) == expected
    assert main(["run", "--dry-run", "--config", str(cfg)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["watches"]["Acme"]["would_deliver"] == {"mail": 12}


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_region_from_aws_region_or_aws_default_region(
    tmp_path, no_region, moto_aws, monkeypatch, capsys, variable
):
    boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="mm/creds", SecretString=json.dumps({"x_bearer_token": TOKEN})
    )
    monkeypatch.setenv(variable, "eu-west-1")
    assert main(["check", "--config", str(aws_cfg(tmp_path, AWS_SECRETS))]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["secrets"] == {"x_bearer_token": {"value": "***", "from": "AWS secret 'mm/creds'"}}


def test_aws_region_beats_aws_default_region(tmp_path, moto_aws, monkeypatch, capsys):
    boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="mm/creds", SecretString=json.dumps({"x_bearer_token": TOKEN})
    )
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the secret is not there
    assert main(["check", "--config", str(aws_cfg(tmp_path, AWS_SECRETS))]) == 0


# -- 11. Paths are relative to the config file --------------------------------------------------
def test_example_runs_from_another_directory(tmp_path, monkeypatch, capsys):
    examples = tmp_path / "clone" / "examples"
    shutil.copytree(REPO / "examples", examples, ignore=shutil.ignore_patterns(".*"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", "--config", str(examples / "local.toml")]) == 0
    summary = summary_line(capsys.readouterr().out)
    assert summary["watches"]["Acme"]["found"] == 12
    assert (examples / ".mention-monitor" / "state.db").is_file()
    assert len(list((examples / ".mention-monitor" / "digests").glob("*.json"))) == 1
    assert list(elsewhere.iterdir()) == []  # nothing created in the working directory


PATHS = """
[x]
api_base = "http://127.0.0.1:9"
[state]
path = "state/mm.db"
[[watches]]
name = "Acme"
terms = ["acme"]
notify = ["out"]
[notifiers.out]
type = "file"
directory = "digests"
"""


def effective(capsys) -> dict:
    out: dict = json.loads(capsys.readouterr().out)
    return out


def test_file_paths_are_relative_to_the_file_env_paths_to_the_working_directory(
    tmp_path, monkeypatch, capsys, bearer
):
    cfg_dir, work = tmp_path / "cfg", tmp_path / "work"
    cfg_dir.mkdir()
    work.mkdir()
    cfg = toml_config(cfg_dir, PATHS)
    monkeypatch.chdir(work)
    assert main(["check", "--config", str(cfg)]) == 0
    s = effective(capsys)["settings"]
    assert s["state"]["path"] == str(cfg_dir / "state" / "mm.db")
    assert s["notifiers"]["out"]["directory"] == str(cfg_dir / "digests")
    assert s["x"]["replay_dir"] == str(cfg_dir / "examples" / "recorded")  # a default, too

    monkeypatch.setenv("MENTION_MONITOR_STATE__PATH", "env.db")
    monkeypatch.setenv("MENTION_MONITOR_NOTIFIERS__OUT__DIRECTORY", "env-digests")
    assert main(["check", "--config", str(cfg)]) == 0
    report = effective(capsys)
    assert report["settings"]["state"]["path"] == str(work / "env.db")
    assert report["settings"]["notifiers"]["out"]["directory"] == str(work / "env-digests")
    assert report["from_env"] == {
        "notifiers.out.directory": "MENTION_MONITOR_NOTIFIERS__OUT__DIRECTORY",
        "state.path": "MENTION_MONITOR_STATE__PATH",
    }


def test_missing_replay_dir_is_a_config_error(tmp_path, capsys):
    cfg = toml_config(
        tmp_path,
        '[x]\nsource = "replay"\nreplay_dir = "nope"\n'
        '[[watches]]\nname = "Acme"\nterms = ["acme"]\n',
    )
    assert main(["check", "--config", str(cfg)]) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"mention-monitor: config: x.replay_dir: no directory {tmp_path / 'nope'} ")


# -- 12. Errors say what to set ----------------------------------------------------------------
def test_missing_env_secret_names_the_variable(tmp_path, capsys):
    cfg = basic_config(tmp_path, "http://127.0.0.1:9")
    assert main(["check", "--config", str(cfg)]) == 2
    assert one_line(capsys.readouterr().err) == (
        "mention-monitor: secrets: key(s) 'x_bearer_token' missing or empty: "
        "set MENTION_MONITOR_SECRET_X_BEARER_TOKEN\n"
    )


def test_unknown_env_variable_reported_by_check_and_warned_by_run(
    tmp_path, fake_x, bearer, monkeypatch, capsys
):
    cfg = basic_config(tmp_path, fake_x.url)
    monkeypatch.setenv("MENTION_MONITOR_X_PAGE_SIZE", "50")
    monkeypatch.setenv("MENTION_MONITOR_SECRETS_SLACK_WEBHOOK_URL", "https://hooks.example/x")
    monkeypatch.setenv("MENTION_MONITOR_LOGLEVEL", "DEBUG")
    assert main(["check", "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["unknown_env"] == {
        "MENTION_MONITOR_SECRETS_SLACK_WEBHOOK_URL": (
            "matches no setting; secrets use MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL"
        ),
        "MENTION_MONITOR_LOGLEVEL": (
            "matches no setting (nested keys are joined with __, e.g. "
            "MENTION_MONITOR_X__PAGE_SIZE)"
        ),
        "MENTION_MONITOR_X_PAGE_SIZE": (
            "matches no setting; did you mean MENTION_MONITOR_X__PAGE_SIZE?"
        ),
    }
    assert main(["run", "--config", str(cfg)]) == 0
    warnings = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    messages = [w["message"] for w in warnings if w["level"] == "WARNING"]
    assert (
        "environment variable MENTION_MONITOR_X_PAGE_SIZE matches no setting; did you mean "
        "MENTION_MONITOR_X__PAGE_SIZE?"
    ) in messages
    assert len(messages) == 3


def test_check_prints_effective_settings_marked_by_source_secrets_masked(
    tmp_path, bearer, monkeypatch, capsys
):
    cfg = basic_config(tmp_path, "http://127.0.0.1:9")
    monkeypatch.setenv("MENTION_MONITOR_X__PAGE_SIZE", "50")
    monkeypatch.setenv("MENTION_MONITOR_STATE", '{"outbox_days": 3}')
    assert main(["check", "--config", str(cfg)]) == 0
    raw = capsys.readouterr().out
    assert bearer not in raw
    report = json.loads(raw)
    # check's existing fields stay as they were
    assert report["ok"] is True and report["config"] == str(cfg)
    assert report["secret_keys"] == ["x_bearer_token"]
    assert report["watches"] == {"Acme": [{"query": "acme -is:retweet", "length": 16}]}
    s = report["settings"]
    assert (s["x"]["page_size"], s["x"]["max_retries"], s["x"]["timeout_seconds"]) == (50, 2, 10.0)
    assert s["state"] == {
        "backend": "sqlite",
        "path": str(tmp_path / "state.db"),
        "table": "mention-monitor",
        "outbox_days": 3.0,
        "lease_seconds": 960,
    }
    out = s["notifiers"]["out"]
    assert (out["type"], out["directory"], out["max_mentions"]) == (
        "file",
        str(tmp_path / "out"),
        10_000,  # a file keeps whole digests by default (issue 10: max_mentions everywhere)
    )
    assert (out["min_author_followers"], out["keywords_any"]) == (None, None)
    assert report["from_env"] == {
        "state": "MENTION_MONITOR_STATE",
        "x.page_size": "MENTION_MONITOR_X__PAGE_SIZE",
    }
    assert report["secrets"] == {
        "x_bearer_token": {"value": "***", "from": "MENTION_MONITOR_SECRET_X_BEARER_TOKEN"}
    }
    assert report["unknown_env"] == {}


# -- 13. Small things --------------------------------------------------------------------------
SLACK_NOTIFIER = """
    [notifiers.slack]
    type = "slack"
"""


@pytest.mark.parametrize("posts", [3, 0], ids=["new-mentions", "nothing-new"])
def test_dry_run_needs_only_x_credentials_and_reports_would_deliver(
    tmp_path, fake_x, bearer, capsys, posts
):
    fake_x.add_posts(make_posts(posts, first_id=700))
    cfg = basic_config(tmp_path, fake_x.url, notify='["slack"]', notifiers=SLACK_NOTIFIER)
    # No MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL: a dry run sends nothing, so needs none.
    assert main(["run", "--dry-run", "--config", str(cfg)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dry_run"] is True
    assert summary["watches"]["Acme"]["would_deliver"] == {"slack": posts}
    assert main(["run", "--config", str(cfg)]) == 2  # a real run still needs the webhook
    assert "MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL" in capsys.readouterr().err


def test_state_reset_of_a_notifier_the_watch_does_not_use_exits_2(tmp_path, capsys):
    cfg = basic_config(tmp_path, "http://127.0.0.1:9")
    assert main(["state", "reset", "--watch", "Acme", "--notifier", "out2", "--config", str(cfg)]) == 2
    assert one_line(capsys.readouterr().err) == (
        "mention-monitor: state reset: --notifier: watch 'Acme' does not send to 'out2' "
        "(its notifiers: out)\n"
    )
    assert main(["state", "reset", "--watch", "Acme", "--notifier", "out", "--config", str(cfg)]) == 0
    assert json.loads(capsys.readouterr().out)["notifier"] == "out"


@pytest.fixture
def lambda_run(tmp_path, fake_x, bearer, monkeypatch):
    fake_x.add_posts(make_posts(3, first_id=700))
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(basic_config(tmp_path, fake_x.url)))
    return tmp_path


@pytest.mark.parametrize(
    ("value", "dry"), [("false", False), ("FALSE", False), (False, False), ("true", True), (True, True)]
)
def test_handler_parses_dry_run_strictly(lambda_run, value, dry):
    summary = handler_mod.handler({"dry_run": value}, FakeLambdaContext())
    assert summary.get("dry_run", False) is dry
    assert ("would_deliver" in summary["watches"]["Acme"]) is dry
    assert len(list((lambda_run / "out").glob("*.json"))) == (0 if dry else 1)


@pytest.mark.parametrize("value", ["yes", "", 1, 0, None, [], {"x": 1}])
def test_handler_refuses_a_dry_run_that_is_not_a_boolean(lambda_run, value):
    with pytest.raises(ConfigError) as exc:
        handler_mod.handler({"dry_run": value}, FakeLambdaContext())
    assert str(exc.value) == (
        f"event: dry_run must be true or false (got a {type(value).__name__})"
    )
    assert not (lambda_run / "out").exists()  # refused before anything ran


def test_config_directory_says_it_is_a_directory(tmp_path, capsys):
    assert main(["check", "--config", str(tmp_path)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"mention-monitor: config: {str(tmp_path)!r} is a directory; pass the TOML file itself "
        f"(e.g. --config {tmp_path / 'monitor.toml'})\n"
    )

