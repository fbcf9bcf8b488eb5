"""What a run lends its notifiers: the clock, an HTTP session factory, an AWS client factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mention_monitor.clock import Budget, Clock

if TYPE_CHECKING:
    import requests

USER_AGENT = "mention-monitor/0.1"


class SecretReader(Protocol):
    """Where credentials are read: ``get(key)`` returns the value or raises SecretsError
    naming the key (never a value)."""

    def get(self, key: str) -> str: ...


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
    time budget that waits and retries must stay inside.
    """

    clock: Clock = field(default_factory=Clock)
    http_session: Callable[[], requests.Session] = new_session
    aws_client: Callable[..., Any] = aws_client
    budget: Budget | None = None
