"""Fault injection: X misbehaves, secrets vanish, runs overlap or die; the promise holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from mention_monitor.cli import main
from mention_monitor.config import load_settings
from mention_monitor.notifiers import Notifier
from mention_monitor.state import make_store
from tests.conftest import (
    SRC_PATH,
    basic_config,
    delivered_ids,
    run_monitor,
    summary_line,
    toml_config,
)
from tests.fakes.aws import moto_server
from tests.fakes.http import Reply
from tests.fakes.xapi import make_posts, server_error
from tests.invariants import Ledger, assert_exactly_once, assert_read_once


def run(cfg, clock, **kw):
    settings = load_settings(cfg)
    store = make_store("sqlite", path=settings.state.path)
    try:
        return run_monitor(settings, store, clock, **kw), store.load("Acme")
    finally:
        store.close()


X_FAULTS = {
    "timeout": Reply(200, {}, delay=1.5),
    "malformed": Reply(200, "{not json"),
    "drop": Reply(drop=True),
    "502": server_error(502),
}


@pytest.mark.parametrize("fault", sorted(X_FAULTS))
def test_transient_x_faults_are_retried(tmp_path, fake_x, clock, bearer, fault):
    fake_x.add_posts(make_posts(30, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url, page_size=10)
    cfg.write_text(cfg.read_text().replace("[x]\n", "[x]\ntimeout_seconds = 0.5\n"))
    fake_x.then(lambda r: fake_x.default(r), X_FAULTS[fault])  # page 2 fails once
    s, _ = run(cfg, clock)
    assert s["ok"], s
    assert s["watches"]["Acme"]["found"] == 30
    assert_exactly_once(delivered_ids(tmp_path / "out"), set(range(100, 130)), "out")
    assert s["watches"]["Acme"]["api_requests"] == 4  # 3 pages + 1 retry


def test_partial_errors_in_a_200_keep_the_data(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(5, first_id=100))

    def with_errors(req):
        reply = fake_x.default(req)
        reply.body["errors"] = [
            {
                "title": "Authorization Error",
                "detail": "Sorry, you are not authorized to see the Post with id: [1].",
                "type": "https://api.x.com/2/problems/not-authorized-for-resource",
                "resource_type": "tweet",
            }
        ]
        return reply

    fake_x.then(with_errors)
    s, _ = run(basic_config(tmp_path, fake_x.url), clock)
    assert s["ok"] and s["watches"]["Acme"]["found"] == 5
    assert any("partial error" in w for w in s["watches"]["Acme"]["warnings"])


def test_pagination_failure_then_recovery_reads_each_post_once(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(5, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url, page_size=10)
    ledger = Ledger()
    s, _ = run(cfg, clock)
    fake_x.add_posts(make_posts(57, first_id=1_000))
    ok = lambda r: fake_x.default(r)  # noqa: E731
    # run 2: pages 1-2 fine, page 3 fails every attempt; run 3: the gap fails again mid-way
    fake_x.then(ok, ok, *[server_error()] * 3)
    s, _ = run(cfg, clock)
    assert not s["ok"]
    store = make_store("sqlite", path=str(tmp_path / "state.db"))
    ledger.check_cursors_forward(store, "Acme")
    fake_x.then(ok, *[server_error()] * 3)
    s, _ = run(cfg, clock)
    assert not s["ok"]
    ledger.check_cursors_forward(store, "Acme")
    s, _ = run(cfg, clock)
    assert s["ok"]
    ledger.check_cursors_forward(store, "Acme")
    store.close()
    expected = set(range(100, 105)) | set(range(1_000, 1_057))
    assert_exactly_once(delivered_ids(tmp_path / "out"), expected, "out")
    assert_read_once(fake_x.served_ids)


def test_secrets_manager_unreachable_fails_cleanly(tmp_path, fake_x, monkeypatch, capsys):
    fake_x.add_posts(make_posts(3, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url)
    cfg.write_text(
        cfg.read_text().replace(
            'backend = "env"', 'backend = "aws"\naws_secret_id = "mm/creds"\ncache_ttl_seconds = 0'
        )
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "cannot reach Secrets Manager" in err and "Traceback" not in err
    assert fake_x.received == []  # nothing searched
    assert not (tmp_path / "state.db").exists()  # the store was never opened


class _Killed(BaseException):
    """Stands for SIGKILL between a delivery and its cursor write."""


def test_kill_between_delivery_and_cursor_write_repeats_at_most_one_digest(
    tmp_path, fake_x, clock, bearer, monkeypatch
):
    fake_x.add_posts(make_posts(20, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url, notify='["out", "out2"]')
    from mention_monitor.state.sqlite import SqliteStore

    real = SqliteStore.advance_delivery

    def die_once(self, watch, notifier, cursor):
        if notifier == "out":
            monkeypatch.setattr(SqliteStore, "advance_delivery", real)
            raise _Killed()
        return real(self, watch, notifier, cursor)

    monkeypatch.setattr(SqliteStore, "advance_delivery", die_once)
    with pytest.raises(_Killed):
        run(cfg, clock)
    clock.advance(1000)  # a killed run's lease expires
    s, _ = run(cfg, clock)
    assert s["ok"]
    out = delivered_ids(tmp_path / "out")
    assert sorted(out) == sorted(list(range(100, 120)) * 2)  # that one digest, twice
    assert len(list((tmp_path / "out").glob("*.json"))) == 2
    assert_exactly_once(delivered_ids(tmp_path / "out2"), set(range(100, 120)), "out2")
    s, _ = run(cfg, clock)
    assert s["watches"]["Acme"]["delivered"] == {"out": 0, "out2": 0}


def test_outage_of_one_notifier_for_three_runs(
    tmp_path, fake_x, clock, bearer, register_notifier
):
    state = {"runs": 0}

    class Down(Notifier):
        type_name = "down3"
        got: list[int] = []

        def _deliver(self, digest):
            if state["runs"] < 3:
                raise RuntimeError("503 from the provider")
            Down.got.extend(m.id for m in digest.mentions)
            return self.accepted(digest.mentions)

    register_notifier("down3", Down)
    cfg = basic_config(
        tmp_path, fake_x.url, notify='["out", "down"]',
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            [notifiers.down]
            type = "down3"
            max_mentions = 1000
        """,
    )
    expected: set[int] = set()
    ledger = Ledger()
    for i in range(5):
        posts = make_posts(37, first_id=10_000 + 1_000 * i)
        fake_x.add_posts(posts)
        expected |= {int(p["id"]) for p in posts}
        s, _ = run(cfg, clock)
        state["runs"] += 1
        store = make_store("sqlite", path=str(tmp_path / "state.db"))
        ledger.check_cursors_forward(store, "Acme")
        store.close()
        assert_exactly_once(delivered_ids(tmp_path / "out"), expected, "out")
    assert_exactly_once(Down.got, expected, "down")
    assert_read_once(fake_x.served_ids)


def _dynamo_config(tmp_path, x_url, name):
    return toml_config(
        tmp_path,
        f"""
        [x]
        api_base = "{x_url}"
        [state]
        backend = "dynamodb"
        table = "mm-state"
        lease_seconds = 600
        [secrets]
        backend = "env"
        [[watches]]
        name = "Acme"
        terms = ["acme"]
        first_run = "backfill"
        backfill_limit = 1000
        notify = ["out"]
        [notifiers.out]
        type = "file"
        directory = "{tmp_path / 'out'}"
        """,
        name=name,
    )


def test_two_overlapping_processes_one_works_one_skips(tmp_path, fake_x):
    fake_x.add_posts(make_posts(150, first_id=100))
    # slow X so the two runs overlap
    slow = lambda r: Reply(**{**fake_x.default(r).__dict__, "delay": 0.6})  # noqa: E731
    fake_x.then(*[slow] * 10)
    with moto_server() as endpoint:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MENTION_MONITOR_")}
        env.update(
            AWS_ENDPOINT_URL=endpoint,
            MENTION_MONITOR_SECRET_X_BEARER_TOKEN="tok-overlap-1234",
            PYTHONPATH=SRC_PATH,
        )
        cfg = _dynamo_config(tmp_path, fake_x.url, "dyn.toml")
        subprocess.run(
            [sys.executable, "-m", "mention_monitor", "state", "init", "--config", str(cfg)],
            env=env, check=True, capture_output=True, timeout=60,
        )
        cmd = [sys.executable, "-m", "mention_monitor", "run", "--config", str(cfg)]
        procs = []
        for _ in range(2):
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            time.sleep(0.3)
        outs = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0, 0], outs
    summaries = [summary_line(o[0])["watches"]["Acme"] for o in outs]
    workers = [s for s in summaries if "skipped" not in s]
    skippers = [s for s in summaries if "skipped" in s]
    assert len(workers) == 1 and len(skippers) == 1, summaries
    assert workers[0]["found"] == 150
    assert isinstance(skippers[0]["skipped"], str) and skippers[0]["skipped"]
    assert_exactly_once(delivered_ids(tmp_path / "out"), set(range(100, 250)), "out")
    assert_read_once(fake_x.served_ids)
