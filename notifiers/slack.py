"""``slack``: Block Kit digests through an incoming webhook, split within Slack's limits."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from mention_monitor.errors import DeliveryError
from mention_monitor.models import DeliveryResult, Digest, Mention
from mention_monitor.notifiers.base import HttpRetryOptions, Notifier, NotifierOptions, Preview
from mention_monitor.notifiers.render import compact_number, display_time, subject
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)

USER_AGENT = "mention-monitor/0.1"


def escape(text: str) -> str:
    """Slack's escaping for untrusted text: exactly ``&``, ``<`` and ``>``, nothing else.

    That turns ``<!channel>``, ``<@U123>``, ``<#C123>`` and ``<url|label>`` into literal text.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_len(text: str) -> int:
    """Length as Slack counts it, conservatively: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def escape_within(text: str, budget: int) -> str:
    """``escape(text)``, cut at a character boundary (never inside ``&amp;``) to ``budget``."""
    full = escape(text)
    if slack_len(full) <= budget:
        return full
    out: list[str] = []
    used = 0
    for ch in text:
        piece = escape(ch)
        size = slack_len(piece)
        if used + size > budget - 1:
            break
        out.append(piece)
        used += size
    return "".join(out).rstrip() + "…"


class SlackOptions(NotifierOptions, HttpRetryOptions):
    webhook_url_secret: str = "slack_webhook_url"  # noqa: S105 - a key name, not a value


class _Transient(Exception):
    """Worth another attempt: 5xx, a timeout, a dropped connection."""


class SlackNotifier(Notifier):
    """One header block with the count, then one section per mention, in ID order."""

    type_name = "slack"
    Options = SlackOptions

    # Slack's limits, as data.
    max_blocks: ClassVar[int] = 50
    max_section_chars: ClassVar[int] = 3000
    max_header_chars: ClassVar[int] = 150
    #: Keep each message well under the 40,000 characters at which Slack cuts text.
    max_message_chars: ClassVar[int] = 30000
    seconds_between_messages: ClassVar[float] = 1.0
    max_rate_limit_waits: ClassVar[int] = 5
    max_retry_after: ClassVar[float] = 60.0

    # -- rendering ---------------------------------------------------------------------------
    def section_text(self, m: Mention) -> str:
        name = escape(m.author_name or m.author_username or "unknown author")
        head = f"*{name}*"
        if m.author_username:
            head += f" <{m.profile_url}|@{escape(m.author_username)}>"
        meta = [f"{compact_number(m.author_followers)} followers"]
        if m.created_at:
            meta.append(display_time(m.created_at))
        head += " · " + " · ".join(meta)
        foot = f"♥ {m.like_count} likes · ⟲ {m.repost_count} reposts · <{m.url}|View post>"
        budget = self.max_section_chars - slack_len(head) - slack_len(foot) - 2
        return f"{head}\n{escape_within(m.text, budget)}\n{foot}"

    def _section(self, m: Mention) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": self.section_text(m)}}

    def _chunks(self, digest: Digest) -> list[list[tuple[Mention, dict[str, Any]]]]:
        """Mentions in ascending ID order, grouped so each message fits Slack's limits."""
        chunks: list[list[tuple[Mention, dict[str, Any]]]] = [[]]
        size = 0
        for m in sorted(digest.mentions, key=lambda x: x.id):
            block = self._section(m)
            block_size = slack_len(block["text"]["text"])
            current = chunks[-1]
            if current and (
                len(current) + 1 >= self.max_blocks or size + block_size > self.max_message_chars
            ):
                chunks.append([])
                size = 0
            chunks[-1].append((m, block))
            size += block_size
        return [c for c in chunks if c]

    def payloads(self, digest: Digest) -> list[tuple[list[Mention], dict[str, Any]]]:
        """Every message of the digest with the mentions it carries, in sending order."""
        chunks = self._chunks(digest)
        total = len(chunks)
        title = subject(digest)
        out: list[tuple[list[Mention], dict[str, Any]]] = []
        for i, chunk in enumerate(chunks, 1):
            part = f" ({i}/{total})" if total > 1 else ""
            header = f"{title}{part}"
            if len(header) > self.max_header_chars:
                header = header[: self.max_header_chars - 1] + "…"
            payload = {
                # The fallback shows in notifications; it carries no tweet text at all.
                "text": escape(header),
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": header}},
                    *(block for _, block in chunk),
                ],
                "unfurl_links": False,
                "unfurl_media": False,
            }
            out.append(([m for m, _ in chunk], payload))
        return out

    def preview(self, digest: Digest) -> Preview:
        payloads = [p for _, p in self.payloads(digest)]
        return Preview(
            json.dumps(payloads, ensure_ascii=False, indent=2),
            "application/json",
            f"{len(payloads)} Slack message(s) for {digest.count} mention(s)",
        )

    # -- sending -----------------------------------------------------------------------------
    def _post_once(self, session: Any, url: str, payload: dict[str, Any]) -> None:
        """One message; waits out 429s; raises _Transient (retry) or DeliveryError (stop)."""
        import requests

        opts = self.options
        assert isinstance(opts, SlackOptions)
        clock = self.context["clock"]
        waits = 0
        while True:
            try:
                resp = session.post(url, json=payload, timeout=opts.timeout_seconds)
            except requests.Timeout:
                raise _Transient("timeout") from None
            except requests.RequestException as exc:
                # The exception text contains the webhook URL: report only its type.
                raise _Transient(type(exc).__name__) from None
            if resp.status_code == 200:
                return
            reason = (resp.text or "").strip()[:200]
            if resp.status_code == 429 and waits < self.max_rate_limit_waits:
                waits += 1
                try:
                    wait = float(resp.headers.get("Retry-After", "1"))
                except ValueError:
                    wait = 1.0
                clock.sleep(min(max(wait, 1.0), self.max_retry_after))
                continue
            if resp.status_code == 429:
                raise DeliveryError("rate limited by Slack (429) too many times")
            if resp.status_code >= 500:
                raise _Transient(f"HTTP {resp.status_code} {reason}".strip())
            raise DeliveryError(f"Slack refused the message: HTTP {resp.status_code} {reason}")

    def _deliver(self, digest: Digest) -> DeliveryResult:
        import requests

        opts = self.options
        assert isinstance(opts, SlackOptions)
        url = self.secrets.get(opts.webhook_url_secret)
        clock = self.context["clock"]
        messages = self.payloads(digest)
        session = self.context.get("slack_session") or requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        sent: list[Mention] = []
        for i, (mentions, payload) in enumerate(messages, 1):
            if i > 1:
                clock.sleep(self.seconds_between_messages)  # about one message per second
            retrying = Retrying(
                stop=stop_after_attempt(opts.max_retries + 1),
                wait=wait_exponential(multiplier=opts.backoff_seconds, max=30),
                retry=retry_if_exception_type(_Transient),
                sleep=clock.sleep,
                reraise=True,
            )
            try:
                retrying(self._post_once, session, url, payload)
            except (_Transient, DeliveryError) as exc:
                where = f"message {i} of {len(messages)}"
                if isinstance(exc, _Transient):
                    reason = f"Slack failed ({exc}) after {opts.max_retries + 1} attempts"
                else:
                    reason = str(exc)
                if not sent:
                    raise DeliveryError(f"{reason} ({where})") from None
                result = self.accepted(sent)
                result.error = f"{reason} ({where}; {len(sent)} mention(s) delivered before it)"
                result.details = {"messages_sent": i - 1, "messages": len(messages)}
                return result
            sent.extend(mentions)
        result = self.accepted(sent)
        result.details = {"messages_sent": len(messages), "messages": len(messages)}
        return result
