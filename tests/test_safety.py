"""Issue 12, secrets and configuration: a stray CR in a secret, masked unexpected errors, lease
and budget, outbox expiry, configuration as hostile input (deployer IAM: test_template.py)."""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mention_monitor import handler as handler_mod
from mention_monitor.cli import main
from mention_monitor.clock import Clock
from mention_monitor.config import load_settings
from mention_monitor.guard import LEASE_LOST
from mention_monitor.notifiers import (
    DeliveryError,
    DeliveryResult,
    Digest,
    Notifier,
    NotifierOptions,
)
from mention_monitor.query import plan_queries
from mention_monitor.state import make_store
from mention_monitor.state.dynamodb import DynamoStore
from tests.conftest import FakeClock, summary_line, toml_config
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.slack import rate_limited
from tests.fakes.xapi import make_posts

TOKEN = "AAAA-safety-bearer-9f8e7d6c5b4a"


@pytest.fixture
def cli_time(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every Clock the CLI builds follows one fake timeline (sleeps return at once)."""
    fake = FakeClock()
    monkeypatch.setattr(Clock, "now", lambda self: fake.now())
    monkeypatch.setattr(Clock, "monotonic", lambda self: fake.monotonic())
    monkeypatch.setattr(Clock, "sleep", lambda self, seconds: fake.sleep(seconds))
    return fake


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, moto_aws: None) -> str:
    if request.param == "dynamodb":
        DynamoStore("mm-state").init()
    return str(request.param)


def config(
    tmp_path: Path,
    api_base: str,
    backend: str,
    *,
    notify: str = '["out"]',
    top: str = "",
    state: str = "",
    notifiers: str = "",
) -> Path:
    store = (
        f'backend = "sqlite"\npath = "{tmp_path / "state.db"}"'
        if backend == "sqlite"
        else 'backend = "dynamodb"\ntable = "mm-state"'
    )
    return toml_config(
        tmp_path,
        f"""{top}
[x]
api_base = "{api_base}"
max_retries = 0
[state]
{store}
{state}
[[watches]]
name = "Acme"
terms = ["acme"]
first_run = "backfill"
notify = {notify}
[notifiers.out]
type = "file"
directory = "{tmp_path / 'out'}"
{notifiers}
""",
    )


def store_for(cfg: Path) -> Any:
    s = load_settings(cfg).state
    return make_store(s.backend, path=s.path, table=s.table)


def summary_of(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out: dict[str, Any] = summary_line(capsys.readouterr().out)
    return out


def files(directory: Path) -> list[int]:
    ids: list[int] = []
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        ids.extend(int(m["id"]) for m in json.loads(path.read_text())["mentions"])
    return ids


# -- 9. A secret with a stray CR -----------------------------------------------------------
def test_secret_with_a_stray_cr_is_stripped(tmp_path, fake_x, monkeypatch, capsys):
    fake_x.add_posts(make_posts(2, first_id=700))
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", TOKEN + "\r")
    assert main(["run", "--config", str(config(tmp_path, fake_x.url, "sqlite"))]) == 0
    assert fake_x.searches[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert summary_of(capsys)["watches"]["Acme"]["found"] == 2


BROKEN = "AAAA-inner\nNEWLINE-9f8e7d6c"  # a line break inside: no strip can save it


def test_unexpected_error_is_one_masked_line_on_the_cli(tmp_path, fake_x, monkeypatch, capfd):
    fake_x.add_posts(make_posts(2, first_id=700))
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", BROKEN)
    assert main(["run", "--config", str(config(tmp_path, fake_x.url, "sqlite"))]) == 1
    out, err = capfd.readouterr()
    assert out == ""
    assert err == (
        "mention-monitor: unexpected error: ValueError: Invalid header value b'Bearer ***'\n"
    )


def test_unexpected_error_in_the_handler_is_masked(tmp_path, fake_x, monkeypatch, capfd):
    fake_x.add_posts(make_posts(2, first_id=700))
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", BROKEN)
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(config(tmp_path, fake_x.url, "sqlite")))
    with pytest.raises(handler_mod.UnexpectedError) as exc:
        handler_mod.handler({}, FakeLambdaContext())
    # What Lambda turns into errorMessage and stackTrace, and what it would print of it.
    assert str(exc.value) == "unexpected error: ValueError: Invalid header value b'Bearer ***'"
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    shown = "".join(traceback.format_exception(exc.value))
    shown += json.dumps(traceback.format_list(traceback.extract_tb(exc.value.__traceback__)))
    out, err = capfd.readouterr()
    logged = [json.loads(line) for line in err.splitlines()]
    assert [r["message"] for r in logged if r["level"] == "ERROR"] == ["unexpected error"]
    for text in (shown, out, err):
        for part in BROKEN.split("\n"):
            assert part not in text
    assert "Invalid header value b'Bearer ***'" in err  # the logged traceback, masked


def test_secret_with_a_stray_cr_in_lambda(tmp_path, fake_x, monkeypatch):
    fake_x.add_posts(make_posts(2, first_id=700))
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", TOKEN + "\r")
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(config(tmp_path, fake_x.url, "sqlite")))
    assert handler_mod.handler({}, FakeLambdaContext())["watches"]["Acme"]["found"] == 2
    assert fake_x.searches[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_secret_with_a_stray_cr_in_secrets_manager_through_the_handler(
    tmp_path, fake_x, moto_aws, monkeypatch, capfd
):
    """The deployed shape: the token pasted into Secrets Manager with a trailing CR LF, read by
    the Lambda handler with DynamoDB state. The header carries the token alone, and neither
    the summary nor the log shows it."""
    import boto3

    boto3.client("secretsmanager").create_secret(
        Name="mm/creds", SecretString=json.dumps({"x_bearer_token": TOKEN + "\r\n"})
    )
    DynamoStore("mm-state").init()
    fake_x.add_posts(make_posts(2, first_id=700))
    cfg = config(tmp_path, fake_x.url, "dynamodb")
    cfg.write_text(cfg.read_text() + '\n[secrets]\nbackend = "aws"\naws_secret_id = "mm/creds"\n')
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(cfg))
    summary = handler_mod.handler({}, FakeLambdaContext())
    assert summary["ok"] is True and summary["watches"]["Acme"]["found"] == 2
    assert fake_x.searches[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert files(tmp_path / "out") == [700, 701]
    out, err = capfd.readouterr()
    assert TOKEN not in out + err + json.dumps(summary)


# -- 10. Lease and budget --------------------------------------------------------------------
def test_slack_rate_limit_waits_count_against_the_time_budget(
    tmp_path, fake_x, bearer, slack, cli_time, backend, capsys
):
    fake_x.add_posts(make_posts(3, first_id=700))
    slack.then(*[rate_limited(50)] * 10)
    cfg = config(
        tmp_path,
        fake_x.url,
        backend,
        notify='["slack"]',
        top="time_budget_seconds = 100",
        notifiers='[notifiers.slack]\ntype = "slack"',
    )
    start = cli_time.t
    assert main(["run", "--config", str(cfg)]) == 1
    watch = summary_of(capsys)["watches"]["Acme"]
    # One wait of 50 s fits in the 100 s budget; the next would not: the run stops there
    # instead of waiting 5 x 50 s (and outliving a lease sized for its budget).
    assert cli_time.sleeps == [50.0]
    assert cli_time.t - start <= 100
    assert watch["failed"] == {
        "slack": "rate limited by Slack (429); reset in 50s, after this run (message 1 of 1)"
    }
    assert slack.accepted == [] and len(slack.received) == 2
    store = store_for(cfg)
    assert store.load("Acme").deliveries["slack"] == 0  # nothing moved: sent next run
    store.close()


class ThiefOptions(NotifierOptions):
    pass


class LeaseThief(Notifier[ThiefOptions]):
    """Its send takes longer than the lease, and meanwhile a newer run takes the watch."""

    type_name = "thief"
    config: ClassVar[Path]
    clock: ClassVar[FakeClock]
    sent: ClassVar[list[int]] = []

    def _deliver(self, digest: Digest) -> DeliveryResult:
        LeaseThief.sent.extend(m.id for m in digest.mentions)
        if len(LeaseThief.sent) == len(digest.mentions):  # the first send only
            self.clock.advance(961)  # past lease_seconds (960)
            store = store_for(self.config)
            assert store.acquire_lease("Acme", "newer-run", int(self.clock.now()), 960)
            store.close()
        return self.accepted(digest.mentions)


def test_a_run_that_lost_its_lease_sends_nothing_more(
    tmp_path, fake_x, bearer, cli_time, backend, register_notifier, capsys
):
    register_notifier("thief", LeaseThief)
    fake_x.add_posts(make_posts(3, first_id=700))
    cfg = config(
        tmp_path,
        fake_x.url,
        backend,
        notify='["thief", "out"]',
        notifiers='[notifiers.thief]\ntype = "thief"',
    )
    LeaseThief.config, LeaseThief.clock, LeaseThief.sent = cfg, cli_time, []
    assert main(["run", "--config", str(cfg)]) == 1
    watch = summary_of(capsys)["watches"]["Acme"]
    assert watch["failed"] == {"lease": LEASE_LOST}
    assert watch["delivered"] == {"thief": 3, "out": 0}
    assert files(tmp_path / "out") == []  # the newer run owns the watch now
    store = store_for(cfg)
    assert store.load("Acme").deliveries == {"thief": 702, "out": 0}
    assert not store.acquire_lease("Acme", "third-run", int(cli_time.now()), 960)  # still held
    store.release_lease("Acme", "newer-run")  # the newer run finishes
    store.close()
    # The next run delivers the rest, each mention exactly once.
    assert main(["run", "--config", str(cfg)]) == 0
    assert summary_of(capsys)["watches"]["Acme"]["delivered"] == {"thief": 0, "out": 3}
    assert files(tmp_path / "out") == [700, 701, 702]
    assert LeaseThief.sent == [700, 701, 702]


@pytest.mark.parametrize(
    ("budget", "lease", "ok"),
    [(800, 960, True), (870, 960, False), (240, 300, False), (240, 331, True)],
)
def test_lease_must_outlast_the_budget_plus_the_longest_send(
    tmp_path, capsys, budget, lease, ok
):
    cfg = toml_config(
        tmp_path,
        f"""
        time_budget_seconds = {budget}
        [state]
        lease_seconds = {lease}
        [secrets]
        backend = "env"
        [x]
        source = "replay"
        replay_dir = "{tmp_path}"
        [[watches]]
        name = "Acme"
        terms = ["acme"]
        notify = ["mail", "c"]
        [notifiers.c]
        type = "console"
        [notifiers.mail]
        type = "email-smtp"
        host = "mail.example.com"
        sender = "m@example.com"
        recipients = ["a@example.com"]
        """,
    )
    assert main(["check", "--config", str(cfg)]) == (0 if ok else 2)
    err = capsys.readouterr().err
    if not ok:
        assert err == (
            "mention-monitor: config: state.lease_seconds: must be longer than "
            f"time_budget_seconds ({budget} s) plus the longest send (90 s, notifiers.mail): "
            f"more than {budget + 90}\n"
        )


# -- 11. Outbox expiry -------------------------------------------------------------------------
class FlakyOptions(NotifierOptions):
    pass


class Flaky(Notifier[FlakyOptions]):
    type_name = "flaky"
    down: ClassVar[bool] = True
    got: ClassVar[list[int]] = []

    def _deliver(self, digest: Digest) -> DeliveryResult:
        if Flaky.down:
            raise DeliveryError("service unavailable")
        Flaky.got.extend(m.id for m in digest.mentions)
        return self.accepted(digest.mentions)


def test_backlog_that_expired_undelivered_is_reported_once(
    tmp_path, fake_x, bearer, cli_time, backend, register_notifier, capsys
):
    register_notifier("flaky", Flaky)
    Flaky.down, Flaky.got = True, []
    fake_x.add_posts(make_posts(3, first_id=700))
    cfg = config(
        tmp_path,
        fake_x.url,
        backend,
        notify='["out", "flaky"]',
        state="outbox_days = 1",
        notifiers='[notifiers.flaky]\ntype = "flaky"',
    )
    assert main(["run", "--config", str(cfg)]) == 1
    assert summary_of(capsys)["watches"]["Acme"]["failed"] == {"flaky": "service unavailable"}
    cli_time.advance(2 * 86400)  # flaky stays down longer than outbox_days
    fake_x.add_posts(make_posts(1, first_id=900))
    Flaky.down = False
    assert main(["run", "--config", str(cfg)]) == 1
    watch = summary_of(capsys)["watches"]["Acme"]
    assert watch["failed"] == {
        "flaky": "3 mention(s) (IDs 700..702) expired from the outbox before flaky delivered "
        "them (state.outbox_days = 1); they will not be sent"
    }
    assert watch["delivered"] == {"out": 1, "flaky": 1}
    assert Flaky.got == [900]
    # Reported once: the next run has nothing to say.
    assert main(["run", "--config", str(cfg)]) == 0
    assert summary_of(capsys)["watches"]["Acme"]["failed"] == {}
    assert files(tmp_path / "out") == [700, 701, 702, 900]


# -- 12. Configuration as input --------------------------------------------------------------
GOOD = """
[x]
api_base = "https://api.x.com"
[[watches]]
name = "Acme"
terms = ["acme"]
notify = ["c"]
[notifiers.c]
type = "console"
"""

SMTP_LOGIN = GOOD + """
[notifiers.mail]
type = "email-smtp"
host = "mail.example.com"
security = "none"
sender = "m@example.com"
recipients = ["a@example.com"]
username_secret = "smtp_username"
password_secret = "smtp_password"
"""
TWILIO = GOOD + """
[notifiers.t]
type = "sms-twilio"
from_number = "+15550000000"
phone_numbers = ["+15551112222"]
api_base = "http://api.twilio.com"
"""
DEEP = "\n".join(["a = " + "[" * 5000 + "]" * 5000, GOOD])
NESTED_17 = GOOD.replace('terms = ["acme"]', 'terms = ["acme"]\nx = ' + "[" * 17 + "]" * 17)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            GOOD.replace('name = "Acme"', 'name = "Acme\\r\\nBcc: all@example.com"'),
            "config: watches.0.name: Value error, must not contain line breaks or control "
            "characters",
        ),
        (DEEP, "config: {cfg} nests tables or arrays more than 16 deep"),
        (NESTED_17, "config: {cfg} nests tables or arrays more than 16 deep"),
        (
            GOOD.replace("https://api.x.com", "http://api.x.com"),
            "config: x.api_base: Value error, http:// is allowed only for localhost, "
            "127.0.0.1 and ::1; use https://",
        ),
        (
            GOOD.replace("https://api.x.com", "http://127.0.0.1.evil.example"),
            "config: x.api_base: Value error, http:// is allowed only for localhost, "
            "127.0.0.1 and ::1; use https://",
        ),
        (
            TWILIO,
            "config: notifiers.t.api_base: Value error, http:// is allowed only for "
            "localhost, 127.0.0.1 and ::1; use https://",
        ),
        (
            SMTP_LOGIN,
            'config: notifiers.mail: Value error, login over security = "none" sends the '
            'password in clear: use "starttls" or "ssl", or set allow_insecure_login = true',
        ),
    ],
    ids=["crlf-name", "deep-toml", "nested-17", "http-x", "http-lookalike", "http-twilio", "smtp"],
)
def test_hostile_config_is_one_line_exit_2(tmp_path, capsys, body, expected):
    cfg = tmp_path / "monitor.toml"
    cfg.write_text(body, encoding="utf-8")
    assert main(["check", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err == "mention-monitor: " + expected.format(cfg=cfg) + "\n"


def test_deeply_nested_env_json_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    cfg = toml_config(tmp_path, GOOD)
    monkeypatch.setenv("MENTION_MONITOR_WATCHES", "[" * 5000 + "]" * 5000)
    assert main(["check", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mention-monitor: config: ")


@pytest.mark.parametrize(
    "body",
    [
        GOOD.replace("https://api.x.com", "http://localhost:8080"),
        GOOD.replace("https://api.x.com", "http://127.0.0.1:9"),
        GOOD.replace("https://api.x.com", "http://[::1]:9"),
        SMTP_LOGIN + "allow_insecure_login = true\n",
    ],
    ids=["localhost", "127.0.0.1", "::1", "smtp-opt-in"],
)
def test_local_http_and_explicit_insecure_login_are_allowed(tmp_path, body):
    cfg = tmp_path / "monitor.toml"
    cfg.write_text(body, encoding="utf-8")
    assert load_settings(cfg).watches[0].name == "Acme"


def test_ten_thousand_terms_split_in_under_a_second(tmp_path, bearer, capsys):
    terms = [f"brand{i}" + "x" * (i % 37) for i in range(10_000)]
    cfg = toml_config(
        tmp_path,
        GOOD.replace('terms = ["acme"]', f"terms = {json.dumps(terms)}"),
    )
    settings = load_settings(cfg)
    started = time.perf_counter()
    queries = plan_queries(settings)["Acme"]
    assert time.perf_counter() - started < 1.0
    assert all(len(q) <= 512 for q in queries)
    inside = [t for q in queries for t in q.split(" -is:retweet")[0].strip("()").split(" OR ")]
    assert sorted(inside) == sorted(terms)
    assert main(["check", "--config", str(cfg)]) == 0
    assert len(json.loads(capsys.readouterr().out)["watches"]["Acme"]) == len(queries)


def test_mentions_a_notifier_filters_out_are_passed_and_never_reported_lost(
    tmp_path, fake_x, bearer, cli_time, backend, capsys
):
    fake_x.add_posts(make_posts(3, first_id=700))
    cfg = config(
        tmp_path,
        fake_x.url,
        backend,
        notify='["out", "picky"]',
        state="outbox_days = 1",
        notifiers=f'[notifiers.picky]\ntype = "file"\ndirectory = "{tmp_path / "picky"}"\n'
        'keywords_any = ["no post says this"]',
    )
    assert main(["run", "--config", str(cfg)]) == 0
    assert summary_of(capsys)["watches"]["Acme"]["delivered"] == {"out": 3, "picky": 0}
    store = store_for(cfg)
    assert store.load("Acme").deliveries == {"out": 702, "picky": 702}  # passed, not pending
    store.close()
    cli_time.advance(2 * 86400)
    assert main(["run", "--config", str(cfg)]) == 0
    assert summary_of(capsys)["watches"]["Acme"]["failed"] == {}
    assert files(tmp_path / "picky") == []
