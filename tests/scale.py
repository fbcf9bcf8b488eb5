"""Helpers for the scale tests: many watches, on SQLite or DynamoDB (moto)."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mention_monitor.config import Settings, load_settings
from mention_monitor.state import StateStore, make_store
from tests.conftest import FakeClock, run_monitor, toml_config

BACKENDS = ["sqlite", "dynamodb"]
TABLE = "mm-scale"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test runs on both backends (DynamoDB on in-process moto)."""
    if request.param == "dynamodb":
        request.getfixturevalue("moto_aws")
    return str(request.param)


def term(i: int) -> str:
    """Watch ``i``'s term: fixed width, so no term is part of another."""
    return f"brand{i:03d}"


def name(i: int) -> str:
    return f"W{i:03d}"


def multi_config(
    tmp_path: Path,
    api_base: str,
    watches: int,
    *,
    backend: str = "sqlite",
    page_size: int = 100,
    notify: str = '["out"]',
    notifiers: str | None = None,
    top: str = "",
    x: str = "",
    first_run: str = "backfill",
    file: str = "monitor.toml",
) -> Path:
    """``watches`` watches W000.. (term brand000..), one file notifier ``out`` by default."""
    state = (
        f'backend = "sqlite"\npath = "{tmp_path / "state.db"}"'
        if backend == "sqlite"
        else f'backend = "dynamodb"\ntable = "{TABLE}"'
    )
    notifiers = notifiers or f"""
        [notifiers.out]
        type = "file"
        directory = "{tmp_path / 'out'}"
    """
    body = textwrap.dedent(
        f"""
        {top}
        [x]
        api_base = "{api_base}"
        page_size = {page_size}
        max_retries = 2
        backoff_seconds = 0
        {x}

        [state]
        """
    )
    body += state + '\n\n[secrets]\nbackend = "env"\n'
    for i in range(watches):
        body += textwrap.dedent(
            f"""
            [[watches]]
            name = "{name(i)}"
            terms = ["{term(i)}"]
            first_run = "{first_run}"
            backfill_limit = 10000
            notify = {notify}
            """
        )
    return toml_config(tmp_path, body + textwrap.dedent(notifiers), name=file)


def open_store(settings: Settings) -> StateStore:
    s = settings.state
    client = None
    if s.backend == "dynamodb":
        import boto3

        from tests.fakes.aws import moto_for_threads

        moto_for_threads()
        client = boto3.client("dynamodb", region_name="us-east-1")
    store = make_store(s.backend, path=s.path, table=s.table, client=client)
    if s.backend == "dynamodb":
        store.init()  # idempotent: the table exists after the first call
    return store


def run_together(
    settings: Settings, clock: FakeClock, new_store: Callable[[], StateStore], count: int = 2
) -> list[dict[str, Any]]:
    """``count`` runs started at once, each with its own store object (as separate processes
    have); their summaries, in the order they finished. No run may raise."""
    summaries: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        store = new_store()
        try:
            summaries.append(run_monitor(settings, store, clock))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=one_run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return summaries


def run_cfg(cfg: Path | Settings, clock: FakeClock, **kw: Any) -> dict[str, Any]:
    """One run with a fresh store object, as the CLI does it."""
    settings = cfg if isinstance(cfg, Settings) else load_settings(cfg)
    store = open_store(settings)
    try:
        return run_monitor(settings, store, clock, **kw)
    finally:
        store.close()


def delivered_by_watch(directory: Path) -> dict[str, list[int]]:
    """Mention IDs the file notifier wrote into ``directory``, per watch (with repeats)."""
    import json

    out: dict[str, list[int]] = {}
    if not directory.exists():
        return out
    for path in sorted(directory.glob("W*.json")):
        payload = json.loads(path.read_text(encoding="utf-8"))
        out.setdefault(payload["watch"], []).extend(int(m["id"]) for m in payload["mentions"])
    return out
