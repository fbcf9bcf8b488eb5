"""Shared bench helpers: a faster fake X, a scriptable notifier, config files, local AWS env."""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from mention_monitor.notifiers import DeliveryResult, Digest, Notifier, NotifierOptions
from mention_monitor.run import RunContext, run_once
from mention_monitor.wiring import build_notifiers
from tests.fakes.http import Received, Reply
from tests.fakes.xapi import FakeX

REPO = Path(__file__).resolve().parents[1]
#: PYTHONPATH of the children: this checkout's mention_monitor, then the repository root.
SRC_PATH = os.pathsep.join((str(REPO / "functions"), str(REPO)))
LOCAL = "127.0.0.1"

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def local_aws_env(endpoint: str | None = None) -> None:
    """Dummy credentials and region in this process; AWS calls go to ``endpoint`` only."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "MENTION_MONITOR_")):
            del os.environ[name]
    os.environ.update(DUMMY_AWS_ENV)
    # Without a moto endpoint anything not mocked fails fast on a closed local port.
    os.environ["AWS_ENDPOINT_URL"] = endpoint or "http://127.0.0.1:9"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return int(s.getsockname()[1])


class BenchX(FakeX):
    """FakeX that also counts the time spent serving."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server_seconds = 0.0
        self._count_lock = threading.Lock()

    def default(self, req: Received) -> Reply:
        t0 = time.perf_counter()
        reply = super().default(req)
        with self._count_lock:
            self.server_seconds += time.perf_counter() - t0
        return reply

    def reset_counts(self) -> None:
        with self._lock:
            self.received.clear()
            self.served_ids.clear()
            self.users_served.clear()
        with self._count_lock:
            self.server_seconds = 0.0


def run_monitor(settings: Any, store: Any, secrets: Any, notifiers: Any = None) -> dict[str, Any]:
    """One run as the CLI does it; the JSON summary."""
    if notifiers is None:
        notifiers = build_notifiers(settings, secrets)
    return run_once(
        RunContext(settings=settings, store=store, secrets=secrets, notifiers=notifiers)
    ).to_dict()


class ScriptedNotifier(Notifier[NotifierOptions]):
    """Records every mention it accepts; fails while ``fail_runs[name]`` is positive."""

    type_name = "bench-scripted"
    fail_runs: ClassVar[dict[str, int]] = {}
    received: ClassVar[dict[str, list[int]]] = {}

    def _deliver(self, digest: Digest) -> DeliveryResult:
        if ScriptedNotifier.fail_runs.get(self.name, 0) > 0:
            return DeliveryResult(error="bench: simulated outage")
        ScriptedNotifier.received.setdefault(self.name, []).extend(m.id for m in digest.mentions)
        return self.accepted(digest.mentions)

    @classmethod
    def reset(cls) -> None:
        cls.fail_runs.clear()
        cls.received.clear()



def write_config(
    directory: Path,
    api_base: str,
    *,
    terms: list[str] | None = None,
    notifiers: dict[str, str] | None = None,
    page_size: int = 100,
    max_query_length: int = 512,
    state: str = "sqlite",
    table: str = "mention-monitor",
    first_run: str = "latest",
    name: str = "monitor.toml",
) -> Path:
    """A config with one watch ``Acme``; ``notifiers`` maps names to TOML bodies."""
    notifiers = notifiers if notifiers is not None else {"n1": 'type = "bench-scripted"\nmax_mentions = 100000'}
    terms = terms or ["acme"]
    state_body = (
        f'backend = "sqlite"\npath = "{directory / "state.db"}"'
        if state == "sqlite"
        else f'backend = "dynamodb"\ntable = "{table}"'
    )
    notifier_tables = "\n".join(f"[notifiers.{n}]\n{body}\n" for n, body in notifiers.items())
    text = textwrap.dedent(
        f"""
        log_level = "WARNING"

        [x]
        api_base = "{api_base}"
        page_size = {page_size}
        max_query_length = {max_query_length}
        max_retries = 2
        backoff_seconds = 0

        [state]
        """
    )
    text += state_body + "\n\n[secrets]\nbackend = \"env\"\n\n"
    text += textwrap.dedent(
        f"""
        [[watches]]
        name = "Acme"
        terms = {terms!r}
        first_run = "{first_run}"
        notify = {list(notifiers)!r}
        """
    ).replace("'", '"')
    text += "\n" + notifier_tables
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


_moto_patched = False


def speed_up_moto_transactions() -> None:
    """Make moto's TransactWriteItems snapshot each table once per call, not once per item.

    moto (5.x) deep-copies the whole table for every action in a transaction, so 100 puts
    into a table of 10,000 items copy a million items: a test-double artefact that would
    swamp the figure. The snapshot is taken before any action runs, so one copy per table
    is the same snapshot. Only this process's moto (the bench's moto server) is affected.
    """
    global _moto_patched
    if _moto_patched:
        return
    import copy as real_copy

    import moto.dynamodb.models as mdm

    original = mdm.DynamoDBBackend.transact_write_items

    class _OncePerTable:
        def __init__(self) -> None:
            self.snapshots: dict[int, Any] = {}

        def deepcopy(self, obj: Any, memo: Any = None) -> Any:
            if obj.__class__.__name__ == "Table":
                if id(obj) not in self.snapshots:
                    self.snapshots[id(obj)] = real_copy.deepcopy(obj)
                return self.snapshots[id(obj)]
            return real_copy.deepcopy(obj, memo)

    lock = threading.Lock()

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        with lock:
            mdm.copy = _OncePerTable()  # type: ignore[assignment]
            try:
                return original(self, transact_items)
            finally:
                mdm.copy = real_copy

    mdm.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _moto_patched = True
