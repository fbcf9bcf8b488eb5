"""tests/test_run.py once more, against an X that only knows ``tweet.fields`` (spec 2.162 and
the docs), with ``fields_style = "tweet"``: the whole happy path works with either spelling."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import test_run
from tests.fakes.xapi import FakeX


@pytest.fixture
def fake_x(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeX]:
    monkeypatch.setenv("MENTION_MONITOR_X__FIELDS_STYLE", "tweet")
    server = FakeX(fields="tweet").start()
    yield server
    server.stop()
    assert not server.violations, f"requests violated X's spec 2.162: {server.violations}"
    assert server.searches and all("tweet.fields" in r.query for r in server.searches)


# Collected here, they use this module's fake_x.
globals().update({k: v for k, v in vars(test_run).items() if k.startswith("test_")})
