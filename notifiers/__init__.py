"""The plugin API: everything a notifier needs, and nothing of the run or its configuration.

A notifier plugin imports only from here::

    from mention_monitor.notifiers import DeliveryResult, Digest, Notifier, NotifierOptions

    class PagerOptions(NotifierOptions):
        url_secret: str = "pager_url"

    class PagerNotifier(Notifier[PagerOptions]):
        type_name = "pager"

        def _deliver(self, digest: Digest) -> DeliveryResult: ...

and registers it in the entry-point group ``mention_monitor.notifiers``.
"""

from mention_monitor.aws import aws_errors
from mention_monitor.clock import Clock
from mention_monitor.errors import DeliveryError, SecretsError, StateError
from mention_monitor.http import HttpError, HttpPolicy, RateLimited, Retry, base_url
from mention_monitor.models import (
    AuthorCount,
    DeliveryResult,
    Digest,
    Mention,
    PeriodSummary,
    SpikeInfo,
)
from mention_monitor.notifiers.base import (
    ConfigPath,
    HttpRetryOptions,
    Notifier,
    NotifierOptions,
    Preview,
    clean_digest,
    clean_mention,
)
from mention_monitor.services import Memory, SecretReader, Services

__all__ = [
    "AuthorCount",
    "Clock",
    "ConfigPath",
    "DeliveryError",
    "DeliveryResult",
    "Digest",
    "HttpError",
    "HttpPolicy",
    "HttpRetryOptions",
    "Memory",
    "Mention",
    "Notifier",
    "NotifierOptions",
    "PeriodSummary",
    "Preview",
    "RateLimited",
    "Retry",
    "SecretReader",
    "SecretsError",
    "Services",
    "SpikeInfo",
    "StateError",
    "aws_errors",
    "base_url",
    "clean_digest",
    "clean_mention",
]
