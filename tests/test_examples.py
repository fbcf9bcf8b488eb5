"""The configurations in examples/ are what the README and docs tell users to run: each one
passes `check`, and the schedules example is issue 11's worked example."""

from __future__ import annotations

import json

import pytest

from mention_monitor.cli import main
from mention_monitor.config import load_settings
from tests.conftest import REPO

EXAMPLES = sorted((REPO / "examples").glob("*.toml"))
#: A value for every secret key a built-in notifier or X can name (check needs them set).
SECRETS = {
    "X_BEARER_TOKEN": "AAAAbearer-token-value-123",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX",
    "SMTP_USERNAME": "monitor",
    "SMTP_PASSWORD": "smtp-password-value",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "twilio-auth-token-value",
}


@pytest.fixture
def all_secrets(monkeypatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(f"MENTION_MONITOR_SECRET_{key}", value)


def test_the_examples_are_found():
    assert {p.name for p in EXAMPLES} >= {"local.toml", "notifiers.toml", "schedules.toml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_check_from_any_directory(path, all_secrets, capsys, monkeypatch):
    # Relative paths in a config file are relative to its directory, wherever check runs.
    for cwd in (REPO, path.parent):
        monkeypatch.chdir(cwd)
        code = main(["check", "--config", str(path.relative_to(cwd))])
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), f"{path.name} from {cwd}"
        assert json.loads(out)["ok"] is True


def test_the_schedules_example_is_issue_11s_worked_example():
    """Slack every run, email daily at 09:00 Berlin time with send_empty, SMS for spikes and
    for posts from accounts with 100,000 followers or more."""
    s = load_settings(REPO / "examples" / "schedules.toml")
    (watch,) = s.watches
    assert set(watch.notify) == {"slack", "email", "sms"}
    slack, email, sms = (s.notifier_options(n) for n in ("slack", "email", "sms"))
    assert slack.type == "slack" and slack.schedule == "every run"
    assert email.type.startswith("email-") and email.schedule == "daily 09:00"
    assert email.timezone == "Europe/Berlin" and email.send_empty is True
    assert sms.type.startswith("sms-") and sms.schedule == "every run"
    assert sms.min_author_followers == 100_000 and sms.keywords_any is None
    assert watch.spike is not None and watch.spike.notify == ["sms"]
    assert s.sentiment.enabled is True


def test_the_worked_examples_preview_shows_the_daily_digest_and_a_spike_alert(
    tmp_path, capsys
):
    """The command docs/schedules.md gives for the worked example."""
    out = tmp_path / "digest.html"
    config = str(REPO / "examples" / "schedules.toml")
    assert main(["preview", "--config", config, "--notifier", "email", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["schedule"], summary["timezone"]) == ("daily 09:00", "Europe/Berlin")
    html = out.read_text(encoding="utf-8")
    assert "Mentions per hour" in html and html.count('bgcolor="#1d9bf0"') == 3
    spike = (tmp_path / "digest.spike.html").read_text(encoding="utf-8")
    assert "Spike: 240 mentions of Acme in the last hour (usual: 12)" in spike
