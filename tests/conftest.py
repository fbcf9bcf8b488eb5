"""Shared fixtures: isolated environment, fake clock, fake X, config files, moto."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mention_monitor import xfields
from mention_monitor.clock import Clock
from mention_monitor.logs import SECRETS
from mention_monitor.notifiers import Notifier, registry
from mention_monitor.run import RunContext, run_once
from mention_monitor.secrets import EnvSecrets, clear_secret_cache
from mention_monitor.services import Services
from mention_monitor.wiring import build_notifiers
from tests.fakes.slack import FakeSlack
from tests.fakes.xapi import FakeX

REPO = Path(__file__).resolve().parents[1]
#: PYTHONPATH for subprocesses: this checkout's mention_monitor, then the repository root.
SRC_PATH = os.pathsep.join((str(REPO / "functions"), str(REPO)))


class FakeClock(Clock):
    """Time that only moves when the code sleeps (or a test advances it)."""

    def __init__(self, start: float = 1_764_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's MENTION_MONITOR_* or AWS settings, or real AWS."""
    for name in list(os.environ):
        if name.startswith(("MENTION_MONITOR_", "AWS_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Never reach a real endpoint: anything not mocked fails fast on a closed local port.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    clear_secret_cache()
    SECRETS.clear()
    xfields.forget()
    from mention_monitor import handler

    handler.reset_container()
    yield
    clear_secret_cache()
    SECRETS.clear()


def run_monitor(
    settings: Any,
    store: Any,
    clock: Clock,
    *,
    secrets: Any = None,
    services: Services | None = None,
    notifiers: Any = None,
    **kw: Any,
) -> dict[str, Any]:
    """One run as the CLI does it (notifiers built from the settings), the summary as JSON."""
    secrets = secrets if secrets is not None else EnvSecrets()
    if notifiers is None:
        services = services or Services(clock=clock, memory=store.memory)
        notifiers = build_notifiers(settings, secrets, services)
    ctx = RunContext(
        settings=settings, store=store, secrets=secrets, notifiers=notifiers, clock=clock, **kw
    )
    return run_once(ctx).to_dict()


def registry_leftovers() -> set[str]:
    """Notifier types registered in code (not loaded from an installed plugin's entry point)."""
    from importlib.metadata import entry_points

    plugins = {ep.name for ep in entry_points(group=registry.ENTRY_POINT_GROUP)}
    return set(registry._registered) - plugins


@pytest.fixture(autouse=True)
def _no_notifier_type_left_behind() -> Iterator[None]:
    """A test that registers a notifier type removes it again (use ``register_notifier``)."""
    before = registry_leftovers()
    yield
    left = registry_leftovers() - before
    for name in left:
        registry.unregister(name)
    assert not left, f"notifier type(s) left registered by the test: {sorted(left)}"


@pytest.fixture
def register_notifier() -> Iterator[Callable[[str, type[Notifier[Any]]], None]]:
    """Register notifier types for one test; they are removed again afterwards."""
    names: list[str] = []

    def _register(type_name: str, cls: type[Notifier[Any]]) -> None:
        registry.register(type_name, cls)
        names.append(type_name)

    yield _register
    for name in names:
        registry.unregister(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_x(clock: FakeClock) -> Iterator[FakeX]:
    """Fake X whose rate-limit windows run on the test's clock."""
    server = FakeX(clock=clock).start()
    yield server
    server.stop()
    assert not server.violations, f"requests violated X's OpenAPI spec: {server.violations}"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """Fake Slack webhook; its URL is the env secret ``slack_webhook_url``."""
    server = FakeSlack().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", server.webhook_url)
    yield server
    server.stop()


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process moto for every AWS service."""
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def summary_line(stdout: str) -> dict[str, Any]:
    """The run's JSON summary: the last line ``mention-monitor run`` prints on stdout."""
    summary: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return summary


def toml_config(tmp_path: Path, body: str, name: str = "monitor.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def basic_config(
    tmp_path: Path,
    api_base: str,
    *,
    notify: str = '["out"]',
    extra_watch: str = "",
    extra: str = "",
    page_size: int = 100,
    first_run: str = "backfill",
    backfill_limit: int = 10000,
    notifiers: str | None = None,
) -> Path:
    """A config with one watch 'Acme' on ``api_base``, SQLite state and file notifiers."""
    out = tmp_path / "out"
    notifiers = notifiers or f"""
        [notifiers.out]
        type = "file"
        directory = "{out}"

        [notifiers.out2]
        type = "file"
        directory = "{tmp_path / 'out2'}"
    """
    return toml_config(
        tmp_path,
        f"""
        {extra}
        [x]
        api_base = "{api_base}"
        page_size = {page_size}
        max_retries = 2
        backoff_seconds = 0

        [state]
        backend = "sqlite"
        path = "{tmp_path / 'state.db'}"

        [secrets]
        backend = "env"

        [[watches]]
        name = "Acme"
        terms = ["acme"]
        first_run = "{first_run}"
        backfill_limit = {backfill_limit}
        notify = {notify}
        {extra_watch}
        """
        + textwrap.dedent(notifiers),
    )


@pytest.fixture
def bearer(monkeypatch: pytest.MonkeyPatch) -> str:
    token = "AAAAbearer-token-value-123"
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", token)
    return token


def delivered_ids(directory: Path) -> list[int]:
    """Every mention ID written by file notifiers into ``directory`` (with repeats); spike
    alerts, which carry posts already delivered in digests, are left out."""
    import json

    ids: list[int] = []
    if not directory.exists():
        return ids
    for path in sorted(directory.glob("*.json")):
        payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("kind") == "spike":
            continue
        ids.extend(int(m["id"]) for m in payload["mentions"])
    return ids
