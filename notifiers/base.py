"""The Notifier base: options with routing rules, a public ``send`` over ``_deliver``."""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from mention_monitor.errors import DeliveryError, SecretsError, StateError
from mention_monitor.http import HttpPolicy
from mention_monitor.logs import redact
from mention_monitor.models import DeliveryResult, Digest, Mention, PeriodSummary
from mention_monitor.notifiers.text import clean_line, clean_text
from mention_monitor.schedule import Schedule, zone
from mention_monitor.services import Memory, SecretReader, Services

log = logging.getLogger(__name__)

#: How long a send may take once started when its options declare no ``timeout_seconds``.
DEFAULT_MAX_SEND_SECONDS = 60.0


class _PathOption:
    """Marks a path setting: a relative value in a config file is relative to that file's
    directory; one from an environment variable, to the working directory."""

    def __repr__(self) -> str:
        return "ConfigPath"


#: The type of a path option, e.g. ``directory: ConfigPath`` (see :class:`_PathOption`).
ConfigPath = Annotated[str, _PathOption()]


def is_path_option(metadata: list[Any]) -> bool:
    """True for a field declared as :data:`ConfigPath` (from its ``FieldInfo.metadata``)."""
    return any(isinstance(m, _PathOption) for m in metadata)


SentimentLabel = Literal["negative", "neutral", "positive", "unknown"]
#: Names and handles longer than this are cut (X allows 50 and 15 characters).
MAX_NAME_CHARS = 100


def clean_mention(m: Mention) -> Mention:
    """``m`` as every medium may show it: text, names and handles cleaned (see ``text.py``)."""
    return dataclasses.replace(
        m,
        text=clean_text(m.text),
        author_name=clean_line(m.author_name, MAX_NAME_CHARS),
        author_username=clean_line(m.author_username, MAX_NAME_CHARS),
        created_at=clean_line(m.created_at, 64),
        lang=clean_line(m.lang, 16),
    )


def _clean_period(period: PeriodSummary | None) -> PeriodSummary | None:
    if period is None:
        return None
    authors = tuple(
        dataclasses.replace(
            a,
            name=clean_line(a.name, MAX_NAME_CHARS),
            username=clean_line(a.username, MAX_NAME_CHARS),
        )
        for a in period.top_authors
    )
    posts = tuple(clean_mention(m) for m in period.top_posts)
    return dataclasses.replace(period, top_authors=authors, top_posts=posts)


def clean_digest(digest: Digest) -> Digest:
    """``digest`` with every mention, name and the watch cleaned (period summary too);
    idempotent."""
    return dataclasses.replace(
        digest,
        watch=clean_line(digest.watch, MAX_NAME_CHARS),
        headline=clean_line(digest.headline),
        mentions=tuple(clean_mention(m) for m in digest.mentions),
        period=_clean_period(digest.period),
    )


class NotifierOptions(BaseModel):
    """Options every notifier takes: its ``type``, its schedule and the routing rules.

    A mention passes if it meets any rule that is set; with no rule set, every mention passes.
    Subclasses add their own options; fields ending in ``_secret`` name keys in the secret.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    min_author_followers: int | None = Field(None, ge=0)
    keywords_any: list[str] | None = None
    #: At most this many mentions per digest (the most-followed authors first); the digest
    #: says how many more there are. Bounds a run's delivery time whatever the backlog.
    max_mentions: int = Field(100, ge=1, le=100000)
    #: Passes mentions whose sentiment label is listed (``unknown`` only when listed).
    sentiment: list[SentimentLabel] | None = Field(None, min_length=1)
    #: "every run", "hourly", "daily HH:MM" or "weekly DAY HH:MM", in ``timezone``.
    schedule: str = "every run"
    timezone: str = "UTC"
    #: Scheduled notifiers: send "no new mentions of ... since ..." when a period was quiet.
    send_empty: bool = False
    _plan: Schedule = PrivateAttr(default_factory=Schedule)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return Schedule.parse(value).describe()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _parse_schedule(self) -> NotifierOptions:
        self._plan = Schedule.parse(self.schedule, self.timezone)
        return self

    @property
    def plan(self) -> Schedule:
        """The parsed ``schedule`` in ``timezone``."""
        return self._plan

    def allows(self, mention: Mention) -> bool:
        checks: list[bool] = []
        if self.min_author_followers is not None:
            checks.append(mention.author_followers >= self.min_author_followers)
        if self.keywords_any:
            text = mention.text.casefold()
            checks.append(any(k.casefold() in text for k in self.keywords_any if k))
        if self.sentiment is not None:
            checks.append((mention.sentiment or "unknown") in self.sentiment)
        return not checks or any(checks)

    def max_send_seconds(self) -> float:
        """The longest one send may take once started, the run's time budget notwithstanding
        (``state.lease_seconds`` must outlast the budget plus this): ``timeout_seconds`` when
        the options have one, else 60. Override it when one send can block for longer."""
        timeout = getattr(self, "timeout_seconds", None)
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            return float(timeout)
        return DEFAULT_MAX_SEND_SECONDS

    def secret_keys(self) -> list[str]:
        """Names of the secret keys this notifier needs (values of ``*_secret`` options)."""
        return [
            str(getattr(self, name))
            for name in type(self).model_fields
            if name.endswith("_secret") and getattr(self, name)
        ]


class HttpRetryOptions(BaseModel):
    """Options of notifiers that call an HTTP API: bounded retries with backoff, a timeout."""

    max_retries: int = Field(3, ge=0, le=10)
    backoff_seconds: float = Field(1.0, ge=0, le=60)
    timeout_seconds: float = Field(10.0, gt=0, le=60)

    def policy(self, service: str, services: Services, **limits: Any) -> HttpPolicy:
        """The shared HTTP policy with these options and the run's clock and budget."""
        return HttpPolicy(
            service=service,
            clock=services.clock,
            budget=services.budget,
            timeout_seconds=self.timeout_seconds,
            max_retries=self.max_retries,
            backoff_seconds=self.backoff_seconds,
            **limits,
        )


@dataclass(frozen=True, slots=True)
class Preview:
    """What a notifier would send, rendered but not sent."""

    content: str
    media_type: str
    summary: str = ""


OptionsT = TypeVar("OptionsT", bound=NotifierOptions)


class Notifier(ABC, Generic[OptionsT]):
    """Base of every notifier: ``class Mine(Notifier[MineOptions])`` with ``type_name`` and
    ``_deliver``. ``Options`` is taken from the generic argument, so ``self.options`` is typed.
    """

    type_name: ClassVar[str] = ""
    #: Sends through an AWS API (boto3 client from ``services.aws_client``): needs a region.
    uses_aws: ClassVar[bool] = False
    Options: ClassVar[type[NotifierOptions]] = NotifierOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], NotifierOptions):
                cls.Options = args[0]
                return

    def __init__(
        self,
        name: str,
        options: OptionsT,
        secrets: SecretReader,
        services: Services | None = None,
    ) -> None:
        self.name = name
        self.options: OptionsT = options
        self.secrets = secrets
        self.services = services or Services()

    def __repr__(self) -> str:  # never show option values that could be sensitive
        return f"<{type(self).__name__} {self.name!r}>"

    @cached_property
    def memory(self) -> Memory:
        """What this notifier remembers across runs (the state store's, in a run)."""
        return self.services.memory(self.name)

    def send(self, digest: Digest) -> DeliveryResult:
        """Deliver ``digest``; never raises. The result says what was accepted and why not.

        Besides digests of new mentions, ``digest`` can be a spike alert (``kind == "spike"``,
        its ``headline`` the message, its mentions the most-engaged posts) or, for a scheduled
        notifier with ``send_empty``, a quiet period's note (a ``headline``, no mentions).
        A notifier that renders ``headline`` (when set) instead of the count handles all three.
        ``_deliver`` gets the digest cleaned once for every medium (:func:`clean_digest`);
        each medium then only escapes for itself.
        """
        if not digest.mentions and not digest.headline:
            return DeliveryResult()
        try:
            result = self._deliver(clean_digest(digest))
        except (DeliveryError, SecretsError, StateError) as exc:
            result = DeliveryResult(error=str(exc))
        except Exception as exc:  # a notifier bug must not stop the other notifiers
            log.exception("notifier %s crashed", self.name)
            result = DeliveryResult(error=f"unexpected error: {type(exc).__name__}")
        if result.error:
            result.error = redact(result.error)
        return result

    @abstractmethod
    def _deliver(self, digest: Digest) -> DeliveryResult:
        """Send the whole digest, or raise DeliveryError; partial success returns a result."""

    def preview(self, digest: Digest) -> Preview:
        """Render without sending (``mention-monitor preview``)."""
        raise NotImplementedError(f"{self.type_name} has no preview")

    @staticmethod
    def accepted(mentions: tuple[Mention, ...] | list[Mention]) -> DeliveryResult:
        """Result for 'all of these were accepted'."""
        if not mentions:
            return DeliveryResult()
        top = max(m.id for m in mentions)
        return DeliveryResult(delivered=len(mentions), delivered_through=top)
