"""The one HTTP policy X, Slack, Twilio and plugins share."""

from __future__ import annotations

import pytest
import requests

from mention_monitor.clock import Budget
from mention_monitor.http import (
    HttpPolicy,
    OutOfTime,
    RateLimited,
    RetriesExhausted,
    Retry,
    retry_after,
)
from mention_monitor.results import RunSummary, WatchResult
from tests.conftest import FakeClock

SECRET_URL = "https://hooks.example/services/T1/B1/very-secret-path?token=abc123"


def response(status: int, body: str = "", headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body.encode()
    r.headers.update(headers or {})
    r.url = SECRET_URL
    return r


class Script:
    """A ``send`` that answers from a list and records the timeouts it was given."""

    def __init__(self, *answers: requests.Response | Exception) -> None:
        self.answers = list(answers)
        self.timeouts: list[float] = []

    def __call__(self, timeout: float) -> requests.Response:
        self.timeouts.append(timeout)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(resp: requests.Response) -> int:
    return resp.status_code


def policy(clock: FakeClock, **kw) -> HttpPolicy:
    return HttpPolicy(service="Demo", clock=clock, backoff_seconds=1.0, **kw)


def test_retry_after_reads_seconds_then_the_reset_epoch():
    assert retry_after({"Retry-After": "7"}, now=100.0) == 7.0
    assert retry_after({"x-rate-limit-reset": "130"}, now=100.0) == 31.0
    assert retry_after({"Retry-After": "soon", "x-rate-limit-reset": "101"}, now=100.0) == 2.0
    assert retry_after({}, now=100.0) is None


def test_5xx_is_retried_with_jittered_backoff_then_succeeds():
    clock = FakeClock()
    send = Script(response(503), response(502), response(200))
    assert policy(clock).call(send, ok) == 200
    assert len(clock.sleeps) == 2
    assert 1.0 <= clock.sleeps[0] <= 1.5 and 2.0 <= clock.sleeps[1] <= 2.5  # doubling, jittered


def test_retries_are_bounded_and_the_error_has_no_url():
    clock = FakeClock()
    send = Script(
        requests.ConnectionError(f"Max retries exceeded with url: {SECRET_URL}"),
        requests.Timeout(SECRET_URL),
        response(500, "rollup_error"),
    )
    with pytest.raises(RetriesExhausted) as exc:
        policy(clock, max_retries=2).call(send, ok)
    assert str(exc.value) == "HTTP 500 rollup_error from Demo after 3 attempts"
    assert send.answers == []


def test_connection_errors_are_named_by_type_only():
    send = Script(requests.ConnectionError(SECRET_URL))
    with pytest.raises(RetriesExhausted) as exc:
        policy(FakeClock(), max_retries=0).call(send, ok)
    assert str(exc.value) == "ConnectionError from Demo after 1 attempts"
    assert "secret" not in str(exc.value) and "abc123" not in str(exc.value)


def test_429_waits_for_retry_after_without_spending_an_attempt():
    clock = FakeClock()
    send = Script(response(429, headers={"Retry-After": "5"}), response(200))
    assert policy(clock, max_retries=0).call(send, ok) == 200
    assert clock.sleeps == [5.0]


def test_429_uses_x_rate_limit_reset_and_caps_the_number_of_waits():
    clock = FakeClock()
    reset = {"x-rate-limit-reset": str(int(clock.now()) + 9)}
    send = Script(*[response(429, headers=reset) for _ in range(3)])
    with pytest.raises(RateLimited) as exc:
        policy(clock, max_rate_limit_waits=2).call(send, ok)
    assert clock.sleeps == [10.0, 1.0]  # until the reset (+1 s), then the reset has passed
    assert "rate limited by Demo (429)" in str(exc.value)


def test_429_past_the_budget_is_not_waited_for():
    clock = FakeClock()
    send = Script(response(429, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimited) as exc:
        policy(clock, budget=Budget(60, clock)).call(send, ok)
    assert clock.sleeps == [] and exc.value.wait == 120.0


def test_the_budget_bounds_timeouts_backoff_and_new_requests():
    clock = FakeClock()
    budget = Budget(3, clock)
    send = Script(response(503), response(503), response(503), response(200))
    result = HttpPolicy(
        service="Demo", clock=clock, budget=budget, backoff_seconds=10, timeout_seconds=30
    ).call(send, ok)
    assert result == 200
    # backoff is cut to leave a second for the request; each timeout to what is left
    assert clock.sleeps == [2.0, 0.0, 0.0]
    assert send.timeouts == [3.0, 1.0, 1.0, 1.0]


def test_no_request_starts_after_the_budget():
    clock = FakeClock()
    budget = Budget(1, clock)
    clock.advance(2)
    send = Script(response(200))
    with pytest.raises(OutOfTime):
        policy(clock, budget=budget).call(send, ok)
    assert send.timeouts == []


def test_a_check_can_ask_for_a_retry_with_its_own_wait():
    clock = FakeClock()
    send = Script(response(400, '{"code": 20429}'), response(201))

    def check(resp: requests.Response) -> int:
        if resp.status_code == 400:
            raise Retry("provider rate limit", wait=4)
        return resp.status_code

    assert policy(clock).call(send, check) == 201
    assert clock.sleeps == [4.0]


def test_requests_are_counted():
    calls: list[int] = []
    send = Script(response(503), response(200))
    policy(FakeClock(), on_request=lambda: calls.append(1)).call(send, ok)
    assert len(calls) == 2


def test_results_serialise_to_the_json_summary():
    quiet = WatchResult(api_requests=1)
    busy = WatchResult(found=3, api_requests=2, posts_read=3, users_read=2)
    busy.delivered = {"out": 3}
    busy.failed = {"slack": "Slack refused the message: HTTP 404 channel_not_found"}
    busy.warnings = ["X reported a partial error: x"]
    summary = RunSummary({"Quiet": quiet, "Busy": busy})
    assert summary.to_dict() == {
        "ok": False,
        "watches": {
            "Quiet": {
                "found": 0, "api_requests": 1, "posts_read": 0, "users_read": 0,
                "cost_usd": 0.0, "delivered": {}, "failed": {},
            },
            "Busy": {
                "found": 3, "api_requests": 2, "posts_read": 3, "users_read": 2,
                "cost_usd": 0.035, "delivered": {"out": 3},
                "failed": {"slack": "Slack refused the message: HTTP 404 channel_not_found"},
                "warnings": ["X reported a partial error: x"],
            },
        },
    }
    assert list(summary.to_dict()["watches"]["Busy"]) == [
        "found", "api_requests", "posts_read", "users_read", "cost_usd", "delivered", "failed",
        "warnings",
    ]
    assert summary.failures == {"Busy": {"slack": busy.failed["slack"]}}
    dry = RunSummary({"Q": WatchResult(would_deliver={"out": 2})}, dry_run=True).to_dict()
    assert dry["dry_run"] is True and dry["watches"]["Q"]["would_deliver"] == {"out": 2}


def test_retry_backoff_and_retry_after_are_written_once():
    """No hand-written retry loop creeps back into X, Slack, Twilio or the user lookup: only
    http.py imports tenacity or reads Retry-After; every HTTP call to those services goes
    through ``HttpPolicy.call``; only the clock sleeps for real."""
    import re

    from tests.conftest import REPO

    sources = {
        p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8")
        for root in ("functions/mention_monitor", "notifiers")
        for p in (REPO / root).rglob("*.py")
        if "mention_monitor/notifiers/" not in p.relative_to(REPO).as_posix()
    }
    assert len(sources) > 40
    for name, text in sources.items():
        if name != "functions/mention_monitor/http.py":
            assert not re.search(r"^\s*(import|from) tenacity", text, re.M), name
            assert "retry-after" not in text.lower(), name
        if name != "functions/mention_monitor/clock.py":
            assert "time.sleep" not in text, name
    callers = {
        "functions/mention_monitor/xsource.py": "self.session.get(",
        "functions/mention_monitor/authors.py": "session.get(",
        "notifiers/slack.py": "session.post(",
        "notifiers/sms.py": "session.post(",
    }
    for name, call in callers.items():
        text = sources[name]
        assert ".call(" in text and ("HttpPolicy(" in text or ".policy(" in text), name
        # the request itself is the ``send`` handed to the policy, never made outside it
        for line in (ln for ln in text.splitlines() if call in ln):
            assert "lambda timeout" in line or "timeout=timeout" in line, (name, line)
    http_users = [n for n, t in sources.items() if re.search(r"session\.(get|post|request)\(", t)]
    assert sorted(http_users) == sorted(callers)
