"""``sms-sns`` and ``sms-twilio``: one text per number per run, inside a segment budget."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import requests
from pydantic import Field, field_validator

from mention_monitor.notifiers import (
    DeliveryError,
    DeliveryResult,
    Digest,
    HttpError,
    HttpRetryOptions,
    Mention,
    Notifier,
    NotifierOptions,
    Preview,
    Retry,
    aws_errors,
    base_url,
    clean_digest,
)
from mention_monitor.notifiers.render import followers as followers_text
from mention_monitor.notifiers.text import clean_line, plural

log = logging.getLogger(__name__)

# GSM 03.38: the basic set costs one septet, the extension set two (escape + character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def segments(text: str) -> SegmentInfo:
    """How many SMS segments ``text`` takes: 160/153 GSM-7 septets or 70/67 UCS-2 units.

    Multipart packing never splits an escape sequence or a surrogate pair across segments.
    """
    if is_gsm7(text):
        sizes = [2 if c in GSM7_EXTENSION else 1 for c in text]
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        sizes = [len(c.encode("utf-16-le")) // 2 for c in text]
        single, multi, encoding = 70, 67, "UCS-2"
    units = sum(sizes)
    if units <= single:
        return SegmentInfo(encoding, units, 1 if text else 0)
    count, used = 1, 0
    for size in sizes:
        if used + size > multi:
            count, used = count + 1, 0
        used += size
    return SegmentInfo(encoding, units, count)


def fits(text: str, max_segments: int) -> bool:
    return segments(text).segments <= max_segments


def to_gsm7(text: str) -> str:
    """``text`` with every character GSM-7 cannot carry dropped (typographic quotes mapped)."""
    table = str.maketrans(
        {
            "\u2018": "'",
            "\u2019": "'",
            "\u201c": '"',
            "\u201d": '"',
            "\u2013": "-",
            "\u2014": "-",
            "\u2026": "...",
        }
    )
    out = text.translate(table)
    return re.sub(r" {2,}", " ", "".join(c for c in out if c in GSM7_BASIC or c in GSM7_EXTENSION))


def short_link(m: Mention) -> str:
    """The shortest link X resolves to the post."""
    return f"x.com/i/status/{m.id}"


def top_mention(digest: Digest) -> Mention:
    """The most-followed author's mention (the newest one on a tie); a spike alert's first
    mention (its most-engaged post)."""
    if digest.is_alert:
        return digest.mentions[0]
    return max(digest.mentions, key=lambda m: (m.author_followers, m.id))


def _head(digest: Digest, conv: Callable[[str], str]) -> str:
    if digest.headline:
        head = conv(digest.headline) + "."
        if digest.spike is not None and digest.spike.negative_share is not None:
            head += f" Negative: {digest.spike.negative_share}%."
        return head
    head = f"{plural(digest.count, 'new mention')} of {conv(digest.watch) or 'your watch'}"
    period = digest.period
    if period is not None and period.total > 1:  # a scheduled digest: the period's numbers
        label, peak = period.peak
        extra = f"peak {peak} at {label}"
        if period.sentiment:
            extra += f", {period.share('negative')}% negative"
        head += f" ({extra})"
    return head + "."


def _cut(text: str, n: int) -> str:
    if len(text) <= n:
        return text
    # "..." rather than an ellipsis character, which GSM-7 does not have
    return text[: max(n - 3, 0)].rstrip() + "..." if n > 3 else ""


def _compose(digest: Digest, max_segments: int, clean: bool) -> tuple[str, int]:
    """The best text within the budget and how many characters of the post it kept."""
    top = top_mention(digest)
    conv: Callable[[str], str] = to_gsm7 if clean else (lambda s: s)
    name = conv(" ".join((top.author_name or "").split()))
    user = conv(top.author_username)
    body = conv(" ".join(top.text.split()))  # line breaks and runs of spaces become one space
    head = _head(digest, conv)
    link = short_link(top)
    followers = followers_text(top)
    who_full = f"{name} (@{user}, {followers})" if user else f"{name} ({followers})"
    candidates = [
        (f"Top: {who_full}", True),
        (f"Top: @{user} ({followers})" if user else f"Top: {followers}", True),
        (f"Top: @{user}" if user else "", True),
        ("", False),
    ]
    for who, with_text in candidates:
        if with_text and body:
            # Longest excerpt that fits: binary search on the number of characters kept.
            lo, hi, best = 0, len(body), None
            while lo <= hi:
                mid = (lo + hi) // 2
                excerpt = _cut(body, mid)
                text = f'{head} {who}: "{excerpt}" {link}'
                if fits(text, max_segments):
                    best, lo = (text, mid), mid + 1
                else:
                    hi = mid - 1
            if best is not None and best[1] >= min(len(body), 12):
                return best[0], best[1]
        text = " ".join(p for p in (head, who, link) if p)
        if fits(text, max_segments):
            return text, 0
    text = f"{head} {link}"
    if fits(text, max_segments):
        return text, 0
    return _cut(head, 60), 0


def compose_sms(digest: Digest, max_segments: int = 1) -> str:
    """The count, the watch and the most-followed mention, fitted into ``max_segments``.

    When the post (an emoji, another script) would force UCS-2 and its 70-character segments,
    a GSM-7 version with those characters dropped is used if it keeps more of the post.
    """
    digest = clean_digest(digest)
    if not digest.mentions:  # a quiet period's note
        text = _head(digest, lambda s: s)
        return text if fits(text, max_segments) else _cut(to_gsm7(text), 150)
    as_is, kept = _compose(digest, max_segments, clean=False)
    body = " ".join(top_mention(digest).text.split())
    if is_gsm7(body) or len(to_gsm7(body)) < len(body) / 2:
        return as_is  # nothing to gain, or most of the post would be lost (another script)
    cleaned, kept_clean = _compose(digest, max_segments, clean=True)
    return cleaned if kept_clean > kept else as_is


class SmsOptions(NotifierOptions):
    phone_numbers: list[str] = Field(min_length=1, max_length=20)
    max_segments: int = Field(1, ge=1, le=10)
    #: A text names the count and the most-followed mention: it needs only that one.
    max_mentions: int = Field(1, ge=1, le=100000)

    @field_validator("phone_numbers")
    @classmethod
    def _e164(cls, value: list[str]) -> list[str]:
        for i, number in enumerate(value):
            if not E164.match(number):
                raise ValueError(f"entry {i} is not an E.164 number such as +14155550100")
        if len(set(value)) != len(value):
            raise ValueError("a number is listed twice")
        return value


class SnsSmsOptions(SmsOptions):
    sender_id: str | None = Field(None, pattern=r"^[A-Za-z0-9]{1,11}$")

    @field_validator("sender_id")
    @classmethod
    def _letter(cls, value: str | None) -> str | None:
        if value is not None and not any(c.isalpha() for c in value):
            raise ValueError("must contain at least one letter")
        return value

    def max_send_seconds(self) -> float:
        # One SNS publish per number: 5 s to connect and 10 s to read, three attempts each.
        return 50.0 * len(self.phone_numbers)


class TwilioSmsOptions(SmsOptions, HttpRetryOptions):
    from_number: str
    account_sid_secret: str = "twilio_account_sid"  # noqa: S105 - a key name, not a value
    auth_token_secret: str = "twilio_auth_token"  # noqa: S105 - a key name, not a value
    api_base: str = "https://api.twilio.com"

    @field_validator("from_number")
    @classmethod
    def _from(cls, value: str) -> str:
        if not E164.match(value):
            raise ValueError("must be an E.164 number such as +14155550100")
        return value

    @field_validator("api_base")
    @classmethod
    def _base(cls, value: str) -> str:
        return base_url(value)


def masked(number: str) -> str:
    """``+15551234567`` -> ``+1…4567`` for reports (numbers are personal data)."""
    return f"{number[:2]}…{number[-4:]}"


# Seven digits or more, with the separators people and providers write between them.
_NUMBER = re.compile(r"\+?\d[\d ().-]{5,}\d")


def mask_numbers(text: str) -> str:
    """Every phone number in a provider's message masked like ours (``+1…4567``)."""

    def _mask(match: re.Match[str]) -> str:
        raw = match.group(0)
        digits = ("+" if raw.startswith("+") else "") + re.sub(r"\D", "", raw)
        return masked(digits) if sum(c.isdigit() for c in digits) >= 7 else raw

    return _NUMBER.sub(_mask, text)


class OptedOut(DeliveryError):
    """The number opted out of our messages: permanent, never retried, remembered."""


#: Memory key of a number that opted out (see :class:`~mention_monitor.services.Memory`).
OPTED_OUT = "opted-out:"


S = TypeVar("S", bound=SmsOptions)


class _SmsNotifier(Notifier[S]):
    """Sends the same text to each number once; subclasses send one text to one number.

    Partial success: the digest counts as delivered when at least one number accepted it.
    Numbers that failed are named (masked) in ``error`` and ``details["failed"]``; they do not
    get this digest again (re-sending would repeat it to the numbers that already have it).
    When every number fails, nothing is accepted and the next run tries all of them again.

    A number that opted out (:class:`OptedOut`) is remembered in the notifier's memory (the
    state store) and reported once, by the run that learnt it; later runs skip it
    (``details["opted_out"]``). A digest no number can receive any more is consumed, so the
    notifier never stays stuck on it.
    """

    def text(self, digest: Digest) -> str:
        return compose_sms(digest, self.options.max_segments)

    def preview(self, digest: Digest) -> Preview:
        text = self.text(digest)
        info = segments(text)
        numbers = ", ".join(masked(n) for n in self.options.phone_numbers)
        return Preview(
            f"{text}\n",
            "text/plain",
            f"{info.segments} segment(s), {info.encoding}, {info.units} units; to {numbers}",
        )

    def _send_one(self, number: str, text: str) -> str:
        """Send ``text`` to ``number``; return the provider's message id or raise DeliveryError."""
        raise NotImplementedError

    def _opted_out(self, number: str) -> bool:
        return self.memory.get(OPTED_OUT + number) is not None

    def _remember_opt_out(self, number: str, reason: str) -> bool:
        """Record the opt-out; True if this run is the first to learn it (and reports it)."""
        record = {"reason": reason, "since": self.services.clock.utcnow().isoformat()}
        return self.memory.add(OPTED_OUT + number, json.dumps(record, sort_keys=True))

    def _deliver(self, digest: Digest) -> DeliveryResult:
        text = self.text(digest)
        sent: dict[str, str] = {}
        failed: dict[str, str] = {}
        opted_out = [n for n in self.options.phone_numbers if self._opted_out(n)]
        retry_later = False
        for number in self.options.phone_numbers:
            if number in opted_out:
                continue
            try:
                sent[masked(number)] = self._send_one(number, text)
            except OptedOut as exc:
                opted_out.append(number)
                if self._remember_opt_out(number, str(exc)):
                    failed[masked(number)] = f"{exc}; it is not sent digests any more"
            except DeliveryError as exc:
                failed[masked(number)] = str(exc)
                retry_later = True
        info = segments(text)
        details: dict[str, Any] = {"sent": sorted(sent), "segments": info.segments}
        if opted_out:
            details["opted_out"] = sorted(masked(n) for n in opted_out)
        if failed:
            details["failed"] = failed
        reasons = "; ".join(f"{n}: {r}" for n, r in failed.items())
        if not sent and retry_later:
            raise DeliveryError(f"no number received the SMS ({reasons})")
        if sent:
            result = self.accepted(digest.mentions)
        else:  # every number opted out: nobody can receive it, so it is not kept for later
            log.warning("%s: every number opted out; the digest is not sent", self.name)
            result = DeliveryResult(delivered_through=max(m.id for m in digest.mentions))
        result.details = details
        if failed:
            tried = len(sent) + len(failed)
            result.error = f"SMS sent to {len(sent)} of {tried} numbers; {reasons}"
        return result


class SnsSmsNotifier(_SmsNotifier[SnsSmsOptions]):
    """Amazon SNS ``publish`` to a phone number, SMSType Transactional."""

    type_name = "sms-sns"
    uses_aws = True
    _sns: Any = None

    def _client(self) -> Any:
        if self._sns is None:
            self._sns = self.services.aws_client("sns")
        return self._sns

    def _send_one(self, number: str, text: str) -> str:
        opts = self.options
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if opts.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {
                "DataType": "String",
                "StringValue": opts.sender_id,
            }
        with aws_errors(DeliveryError, "SNS refused", "cannot reach SNS"):
            resp = self._client().publish(
                PhoneNumber=number, Message=text, MessageAttributes=attributes
            )
        return str(resp.get("MessageId", ""))


class TwilioSmsNotifier(_SmsNotifier[TwilioSmsOptions]):
    """Twilio Programmable Messaging: ``POST /2010-04-01/Accounts/{sid}/Messages.json``."""

    type_name = "sms-twilio"
    max_retry_after: ClassVar[float] = 60.0
    _session: requests.Session | None = None

    @staticmethod
    def _check(resp: requests.Response) -> str:
        """The message SID of a 2xx answer; Retry for 20429; DeliveryError for the rest."""
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if resp.status_code in (200, 201):
            return str(body.get("sid", ""))
        code = body.get("code")
        message = mask_numbers(clean_line(str(body.get("message", ""))))[:160]
        if code == 20429:  # "too many requests" inside another status: always safe to retry
            raise Retry("Twilio rate limit (20429)")
        if code == 21610:
            raise OptedOut("recipient opted out (Twilio 21610)")
        if resp.status_code == 401:
            raise DeliveryError("Twilio authentication failed (HTTP 401)")
        detail = f"Twilio error {code}: {message}" if code else f"Twilio HTTP {resp.status_code}"
        raise DeliveryError(detail)

    def _send_one(self, number: str, text: str) -> str:
        opts = self.options
        sid = self.secrets.get(opts.account_sid_secret)
        token = self.secrets.get(opts.auth_token_secret)
        url = f"{opts.api_base}/2010-04-01/Accounts/{sid}/Messages.json"
        if self._session is None:
            self._session = self.services.http_session()
        session = self._session
        policy = opts.policy(
            "Twilio", self.services, default_rate_wait=1.0, max_rate_wait=self.max_retry_after
        )
        data = {"To": number, "From": opts.from_number, "Body": text}
        try:
            return policy.call(
                lambda timeout: session.post(url, data=data, auth=(sid, token), timeout=timeout),
                self._check,
            )
        except HttpError as exc:
            raise DeliveryError(mask_numbers(str(exc))) from None


__all__ = [
    "OptedOut",
    "SegmentInfo",
    "SnsSmsNotifier",
    "TwilioSmsNotifier",
    "compose_sms",
    "segments",
]
