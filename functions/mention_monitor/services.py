"""What a run lends its notifiers: clock, HTTP and AWS client factories, budget and memory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mention_monitor.clock import Budget, Clock

if TYPE_CHECKING:
    import requests

USER_AGENT = "mention-monitor/0.1"
MAX_MEMORY_KEY = 200
MAX_MEMORY_VALUE = 4000


class SecretReader(Protocol):
    """Where credentials are read: ``get(key)`` returns the value or raises SecretsError
    naming the key (never a value)."""

    def get(self, key: str) -> str: ...


class Memory(Protocol):
    """A notifier's small key/value memory that outlives the run (kept in the state store).

    For facts a notifier learns once and must act on in every later run (a phone number that
    opted out). Keys hold at most 200 characters, values 4,000. ``add`` is conditional (the
    first writer wins, so overlapping runs agree on who learnt it), ``put`` and ``remove`` are
    idempotent. Backends raise ``StateError`` when the store cannot be reached.
    """

    def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        ...

    def items(self) -> dict[str, str]:
        """Every key and value this notifier has stored."""
        ...

    def add(self, key: str, value: str) -> bool:
        """Store ``value`` only if ``key`` is absent; True if this call stored it."""
        ...

    def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        ...

    def remove(self, key: str) -> bool:
        """Forget ``key``; True if it was there."""
        ...


def check_memory_entry(key: str, value: str = "") -> None:
    """ValueError unless ``key`` and ``value`` fit every backend (checked before any write)."""
    if not key or len(key) > MAX_MEMORY_KEY:
        raise ValueError(f"memory keys hold 1..{MAX_MEMORY_KEY} characters")
    if len(value) > MAX_MEMORY_VALUE:
        raise ValueError(f"memory values hold at most {MAX_MEMORY_VALUE} characters")


class LocalMemory:
    """:class:`Memory` in this process only: the default when no state store is wired in."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def items(self) -> dict[str, str]:
        return dict(self._data)

    def add(self, key: str, value: str) -> bool:
        check_memory_entry(key, value)
        with self._lock:
            if key in self._data:
                return False
            self._data[key] = value
            return True

    def put(self, key: str, value: str) -> None:
        check_memory_entry(key, value)
        self._data[key] = value

    def remove(self, key: str) -> bool:
        return self._data.pop(key, None) is not None


class LocalMemories:
    """One :class:`LocalMemory` per notifier name, for as long as this object lives."""

    def __init__(self) -> None:
        self._by_name: dict[str, LocalMemory] = {}

    def __call__(self, notifier: str) -> Memory:
        return self._by_name.setdefault(notifier, LocalMemory())


def new_session() -> requests.Session:
    """A plain requests session with our User-Agent."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def aws_client(service: str, **config: Any) -> Any:
    """A lazily built plain boto3 client (see :func:`mention_monitor.aws.client`)."""
    from mention_monitor import aws

    return aws.client(service, **config)


@dataclass(frozen=True)
class Services:
    """Typed services for notifiers; tests and embedders replace any of them.

    ``http_session()`` returns a ``requests.Session`` (a notifier keeps the one it gets);
    ``aws_client(name, **config)`` returns a boto3 client; ``budget``, when set, is the run's
    time budget that waits and retries must stay inside; ``memory(notifier_name)`` is that
    notifier's :class:`Memory` (the state store's in a run, this process's by default).
    """

    clock: Clock = field(default_factory=Clock)
    http_session: Callable[[], requests.Session] = new_session
    aws_client: Callable[..., Any] = aws_client
    budget: Budget | None = None
    memory: Callable[[str], Memory] = field(default_factory=LocalMemories)
