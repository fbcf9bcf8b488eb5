"""The Lambda handler with a Scheduler event; the CLI; secrets never leak (DEBUG, aws backend)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from mention_monitor import handler as handler_mod
from mention_monitor.cli import main
from mention_monitor.state.dynamodb import DynamoStore
from tests.conftest import REPO, SRC_PATH, summary_line, toml_config
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.xapi import make_posts, server_error

EVENT = json.loads((Path(__file__).parent / "events" / "scheduler.json").read_text())
TOKEN = "AAAA-secret-bearer-9f8e7d6c5b4a"


def aws_config(tmp_path, api_base, level="INFO"):
    return toml_config(
        tmp_path,
        f"""
        log_level = "{level}"
        [x]
        api_base = "{api_base}"
        [state]
        backend = "dynamodb"
        table = "mm-state"
        [secrets]
        backend = "aws"
        aws_secret_id = "mm/creds"
        [[watches]]
        name = "Acme"
        terms = ["acme"]
        first_run = "backfill"
        notify = ["files"]
        [notifiers.files]
        type = "file"
        directory = "{tmp_path / 'out'}"
        """,
    )


def setup_aws():
    boto3.client("secretsmanager").create_secret(
        Name="mm/creds", SecretString=json.dumps({"x_bearer_token": TOKEN})
    )
    DynamoStore("mm-state").init()


def test_handler_runs_a_scheduled_event(tmp_path, fake_x, moto_aws, monkeypatch, capsys):
    setup_aws()
    fake_x.add_posts(make_posts(30, first_id=500))
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(aws_config(tmp_path, fake_x.url)))
    summary = handler_mod.handler(EVENT, FakeLambdaContext())
    assert summary["ok"] and summary["watches"]["Acme"]["found"] == 30
    assert fake_x.searches[0].headers["authorization"] == f"Bearer {TOKEN}"
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert len(emf) == 1
    assert (emf[0]["RunSucceeded"], emf[0]["MentionsFound"]) == ([1.0], [30.0])
    # warm container: settings cached; the second run finds nothing new
    summary = handler_mod.handler(EVENT, FakeLambdaContext())
    assert summary["watches"]["Acme"]["found"] == 0


def test_handler_raises_when_run_fails(tmp_path, fake_x, moto_aws, monkeypatch):
    setup_aws()
    fake_x.then(*[server_error()] * 10)
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(aws_config(tmp_path, fake_x.url)))
    monkeypatch.setenv("MENTION_MONITOR_X__MAX_RETRIES", "0")
    with pytest.raises(handler_mod.RunFailed, match="search"):
        handler_mod.handler(EVENT, FakeLambdaContext())


def test_no_secret_in_any_output_at_debug(tmp_path, fake_x, moto_aws, monkeypatch, capfd):
    setup_aws()
    fake_x.add_posts(make_posts(12, first_id=500))
    cfg = aws_config(tmp_path, fake_x.url, level="DEBUG")
    assert main(["run", "--config", str(cfg)]) == 0
    assert main(["check", "--config", str(cfg)]) == 0
    assert main(["state", "show", "--config", str(cfg)]) == 0
    fake_x.then(*[server_error(401)] * 3)
    main(["run", "--config", str(cfg)])
    out, err = capfd.readouterr()
    assert '"level":"DEBUG"' in err  # DEBUG really was on
    assert TOKEN not in out and TOKEN not in err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_readme_first_command_offline(tmp_path):
    """`mention-monitor run --config examples/local.toml` twice: mentions, then nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTION_MONITOR_")}
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copytree(REPO / "examples", work / "examples", ignore=shutil.ignore_patterns(".*"))
    cmd = [sys.executable, "-m", "mention_monitor", "run", "--config", "examples/local.toml"]
    env["PYTHONPATH"] = SRC_PATH
    first = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    summary = summary_line(first.stdout)
    assert summary["ok"] and summary["watches"]["Acme"]["found"] == 12
    assert "new mentions of Acme" in first.stdout
    second = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0
    assert second.stdout.strip().splitlines() == [second.stdout.strip()]  # only the summary
    s2 = json.loads(second.stdout)
    assert s2["watches"]["Acme"]["found"] == 0
    assert s2["watches"]["Acme"]["delivered"] == {"console": 0, "files": 0}
    # Relative paths in the file are relative to examples/, not to the working directory.
    assert len(list((work / "examples" / ".mention-monitor" / "digests").glob("*.html"))) == 1
    assert not (work / ".mention-monitor").exists()
