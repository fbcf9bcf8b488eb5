"""Notifiers inside real runs: routing rules, backlogs after failures, plugins, preview."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from mention_monitor.cli import main
from mention_monitor.notifiers import registry
from tests.conftest import REPO, basic_config
from tests.fakes.http import Reply
from tests.fakes.slack import FakeSlack
from tests.fakes.xapi import make_posts, make_users
from tests.test_run import run


def test_routing_sms_only_for_big_accounts_or_outage_slack_and_file_get_everything(
    tmp_path, fake_x, clock, bearer, slack, moto_aws
):
    # users 0..4 have 100..500 followers; user 5 is a big account
    users = [*make_users(5), *make_users(6, base_followers=50_000)[5:]]
    posts = make_posts(10, first_id=100, users=5)
    posts[3]["text"] = "acme outage again?"
    big = make_posts(1, first_id=200)
    big[0]["author_id"] = "9005"
    fake_x.add_posts(posts + big, users)
    cfg = basic_config(
        tmp_path,
        fake_x.url,
        notify='["out", "slack", "sms"]',
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / "out"}"
            [notifiers.slack]
            type = "slack"
            [notifiers.sms]
            type = "sms-sns"
            phone_numbers = ["+15551230001"]
            min_author_followers = 100000
            keywords_any = ["OUTAGE"]
        """,
    )
    s = run(cfg, clock)
    assert s["ok"], s
    assert s["watches"]["Acme"]["delivered"] == {"out": 11, "slack": 11, "sms": 2}
    assert slack.tweet_ids == [*range(100, 110), 200]
    (sms,) = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values()
    assert sms[1].startswith("2 new mentions of Acme. Top: User 5 (@user5, 300K followers)")


def test_failing_slack_does_not_stop_others_and_gets_its_backlog_next_run(
    tmp_path, fake_x, clock, bearer, slack
):
    cfg = basic_config(
        tmp_path,
        fake_x.url,
        notify='["slack", "out"]',
        notifiers=f"""
            [notifiers.slack]
            type = "slack"
            max_mentions = 100
            max_retries = 0
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / "out"}"
        """,
    )
    fake_x.add_posts(make_posts(60, first_id=1_000))
    slack.then(Reply(200, "ok"), Reply(500, "rollup_error"))  # message 2 of 2 fails
    s = run(cfg, clock)
    w = s["watches"]["Acme"]
    assert s["ok"] is False and "rollup_error" in w["failed"]["slack"]
    assert w["delivered"] == {"slack": 49, "out": 60}
    assert slack.tweet_ids == list(range(1_000, 1_049))

    fake_x.add_posts(make_posts(5, first_id=2_000))
    s = run(cfg, clock)
    assert s["ok"] is True and s["watches"]["Acme"]["delivered"] == {"slack": 16, "out": 5}
    # every mention exactly once, the backlog first
    assert slack.tweet_ids == [*range(1_000, 1_060), *range(2_000, 2_005)]
    assert sorted(fake_x.served_ids) == [*range(1_000, 1_060), *range(2_000, 2_005)]


# -- plugins ---------------------------------------------------------------------------------
@pytest.fixture
def plugin_on_path(tmp_path, monkeypatch) -> Iterator[Path]:
    """Install examples/plugin as a distribution in a temporary directory on sys.path.

    Offline and without build tools: the package is copied and its ``.dist-info`` (METADATA
    and ``entry_points.txt``) is written from the plugin's own ``pyproject.toml``, which is
    what ``pip install --target`` would produce.
    """
    src = REPO / "examples" / "plugin"
    project = tomllib.loads((src / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    target = tmp_path / "site"
    shutil.copytree(src / "mention_monitor_webhook", target / "mention_monitor_webhook")
    dist = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf-8",
    )
    lines = []
    for group, eps in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {value}" for name, value in eps.items())
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(target))
    registry.reset_plugins()
    yield target
    registry.reset_plugins()
    for name in [m for m in sys.modules if m.startswith("mention_monitor_webhook")]:
        del sys.modules[name]


def test_plugin_from_an_installed_distribution_runs_by_type_name(
    plugin_on_path, tmp_path, fake_x, clock, bearer, monkeypatch
):
    hook = FakeSlack().start()  # any server that answers 200 to a JSON POST
    monkeypatch.setenv("MENTION_MONITOR_SECRET_HOOK_URL", hook.webhook_url)
    try:
        assert "webhook" in registry.available_types()
        fake_x.add_posts(make_posts(3, first_id=700))
        cfg = basic_config(
            tmp_path,
            fake_x.url,
            notify='["hook"]',
            notifiers="""
                [notifiers.hook]
                type = "webhook"
                url_secret = "hook_url"
            """,
        )
        s = run(cfg, clock)
    finally:
        hook.stop()
    assert s["ok"] and s["watches"]["Acme"]["delivered"] == {"hook": 3}
    (payload,) = hook.payloads
    assert payload["watch"] == "Acme" and payload["count"] == 3
    assert [m["id"] for m in payload["mentions"]] == ["700", "701", "702"]
    assert registry.get_notifier_class("webhook").__module__ == "mention_monitor_webhook"


def test_without_the_plugin_the_type_is_a_config_error(tmp_path, capsys):
    registry.reset_plugins()
    cfg = basic_config(
        tmp_path,
        "http://127.0.0.1:9",
        notify='["hook"]',
        notifiers='[notifiers.hook]\ntype = "webhook"\n',
    )
    assert main(["check", "--config", str(cfg)]) == 2
    assert "unknown notifier type 'webhook'" in capsys.readouterr().err


# -- preview ---------------------------------------------------------------------------------
NOTIFIERS_TOML = REPO / "examples" / "notifiers.toml"


def test_preview_email_writes_html_without_secrets(tmp_path, capsys):
    out = tmp_path / "digest.html"
    assert (
        main(["preview", "--config", str(NOTIFIERS_TOML), "--notifier", "email", "--out", str(out)])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["summary"].startswith("subject: 6 new mentions of Acme")
    assert summary["schedule"] == "daily 09:00" and summary["timezone"] == "Europe/Berlin"
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "<!channel>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "محمد أحمد" in html
    # a scheduled digest: the period summary and its chart open it
    assert "Tue 24 Nov 09:00 CET to Wed 25 Nov 09:00 CET" in html
    assert html.count('bgcolor="#1d9bf0"') == 3  # the three hours that had mentions
    spike = tmp_path / "digest.spike.html"
    assert summary["spike_out"] == str(spike)
    assert "Spike: 240 mentions of Acme in the last hour (usual: 12)" in spike.read_text()


def test_preview_slack_and_sms(tmp_path, capsys):
    out = tmp_path / "slack.json"
    assert (
        main(["preview", "--config", str(NOTIFIERS_TOML), "--notifier", "slack", "--out", str(out)])
        == 0
    )
    payloads = json.loads(out.read_text(encoding="utf-8"))
    # header, the period's fields and chart, six mentions
    assert len(payloads) == 1 and len(payloads[0]["blocks"]) == 9
    assert payloads[0]["blocks"][1]["fields"][0]["text"] == "*Mentions*\n6"
    alert = json.loads((tmp_path / "slack.spike.json").read_text(encoding="utf-8"))
    assert alert[0]["text"] == "Spike: 240 mentions of Acme in the last hour (usual: 12)"
    capsys.readouterr()
    assert main(["preview", "--config", str(NOTIFIERS_TOML), "--notifier", "sms"]) == 0
    captured = capsys.readouterr()
    digest, alert_text = captured.out.split("-" * 30 + " spike alert " + "-" * 29 + "\n")
    assert digest.startswith("1 new mention of Acme. Top: Tech News Daily")
    assert alert_text.startswith("Spike: 240 mentions of Acme in the last hour (usual: 12).")
    assert '"summary": "1 segment(s), GSM-7' in captured.err


@pytest.mark.parametrize(
    "name", ["console", "files", "email", "email_ses", "slack", "sms", "sms_twilio"]
)
def test_preview_shows_a_scheduled_digest_and_a_spike_alert_for_every_type(
    tmp_path, capsys, name
):
    out = tmp_path / "preview.out"
    assert main(["preview", "--config", str(NOTIFIERS_TOML), "--notifier", name,
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["schedule"] != "every run"
    digest = out.read_text(encoding="utf-8")
    alert = (tmp_path / "preview.spike.out").read_text(encoding="utf-8")
    assert "Spike: 240 mentions of Acme in the last " in alert
    if summary["type"].startswith("sms"):
        assert "new mention" in digest  # the period's numbers ride in the SMS head
    elif summary["type"] == "slack":
        assert '"*Mentions*\\n6"' in digest
    elif summary["media_type"] == "text/html":
        assert "Mentions per " in digest and 'bgcolor="#1d9bf0"' in digest
    else:
        assert re.search("^Mentions per .*:$", digest, re.M) and "█" in digest


def test_preview_unknown_notifier_exits_2_with_one_line(capsys):
    assert main(["preview", "--config", str(NOTIFIERS_TOML), "--notifier", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no notifier named 'nope'" in err
