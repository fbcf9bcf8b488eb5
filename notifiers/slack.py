"""``slack``: Block Kit digests through an incoming webhook, split within Slack's limits."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import requests
from pydantic import Field

from mention_monitor.notifiers import (
    Alert,
    DeliveryError,
    DeliveryResult,
    Digest,
    HttpError,
    HttpRetryOptions,
    Mention,
    Notifier,
    NotifierOptions,
    Preview,
)
from mention_monitor.notifiers.render import compact_number, display_time, select, subject


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
    #: About one message a second per webhook: 50 mentions are two or three messages.
    max_mentions: int = Field(50, ge=1, le=100000)


class SlackNotifier(Notifier[SlackOptions]):
    """One header block with the count, then one section per mention, in ID order."""

    type_name = "slack"

    # Slack's limits, as data.
    max_blocks: ClassVar[int] = 50
    max_section_chars: ClassVar[int] = 3000
    max_header_chars: ClassVar[int] = 150
    #: Keep each message well under the 40,000 characters at which Slack cuts text.
    max_message_chars: ClassVar[int] = 30000
    seconds_between_messages: ClassVar[float] = 1.0
    max_rate_limit_waits: ClassVar[int] = 5
    max_retry_after: ClassVar[float] = 60.0
    _session: requests.Session | None = None

    # -- rendering ---------------------------------------------------------------------------
    def section_text(self, m: Mention) -> str:
        name = escape(m.author_label)
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

    def _more_block(self, shown: int, more: int, search_url: str) -> dict[str, Any]:
        """Says how many mentions the digest does not show, with the link to the search."""
        text = f"Showing the {shown} most-followed authors; {more:,} more"
        text += f": <{search_url}|see them all on X>" if search_url else "."
        return {"type": "section", "text": {"type": "mrkdwn", "text": text}}

    def _chunks(self, digest: Digest) -> list[list[tuple[Mention | None, dict[str, Any]]]]:
        """At most ``max_mentions`` mentions in ascending ID order (the "more" note first when
        some are not shown), grouped so each message fits Slack's limits."""
        shown, more = select(digest, self.options.max_mentions)
        items: list[tuple[Mention | None, dict[str, Any]]] = []
        if more:
            items.append((None, self._more_block(len(shown), more, digest.search_url)))
        items.extend((m, self._section(m)) for m in sorted(shown, key=lambda x: x.id))
        chunks: list[list[tuple[Mention | None, dict[str, Any]]]] = [[]]
        size = 0
        for m, block in items:
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
            out.append(([m for m, _ in chunk if m is not None], payload))
        return out

    def preview(self, digest: Digest) -> Preview:
        payloads = [p for _, p in self.payloads(digest)]
        return Preview(
            json.dumps(payloads, ensure_ascii=False, indent=2),
            "application/json",
            f"{len(payloads)} Slack message(s) for {digest.count} mention(s)",
        )

    # -- sending -----------------------------------------------------------------------------
    def _post(self, session: requests.Session, url: str, payload: dict[str, Any]) -> None:
        """One message under the shared HTTP policy (429 waits, 5xx retried)."""
        policy = self.options.policy(
            "Slack",
            self.services,
            max_rate_limit_waits=self.max_rate_limit_waits,
            default_rate_wait=1.0,
            min_rate_wait=1.0,
            max_rate_wait=self.max_retry_after,
        )

        def check(resp: requests.Response) -> None:
            if resp.status_code != 200:
                reason = (resp.text or "").strip()[:200]
                raise DeliveryError(f"Slack refused the message: HTTP {resp.status_code} {reason}")

        policy.call(
            lambda timeout: session.post(url, json=payload, timeout=timeout),
            check,
        )

    def _deliver(self, digest: Digest) -> DeliveryResult:
        url = self.secrets.get(self.options.webhook_url_secret)
        messages = self.payloads(digest)
        if self._session is None:
            self._session = self.services.http_session()
        sent: list[Mention] = []
        for i, (mentions, payload) in enumerate(messages, 1):
            if i > 1:
                self.services.clock.sleep(self.seconds_between_messages)  # ~1 message a second
            try:
                self._post(self._session, url, payload)
            except (HttpError, DeliveryError) as exc:
                where = f"message {i} of {len(messages)}"
                if not sent:
                    raise DeliveryError(f"{exc} ({where})") from None
                result = self.accepted(sent)
                result.error = f"{exc} ({where}; {len(sent)} mention(s) delivered before it)"
                result.details = {"messages_sent": i - 1, "messages": len(messages)}
                return result
            sent.extend(mentions)
        result = self.accepted(sent)
        result.details = {"messages_sent": len(messages), "messages": len(messages)}
        return result

    def _deliver_alert(self, alert: Alert) -> DeliveryResult:
        url = self.secrets.get(self.options.webhook_url_secret)
        if self._session is None:
            self._session = self.services.http_session()
        title = alert.title
        if len(title) > self.max_header_chars:
            title = title[: self.max_header_chars - 1] + "…"
        text = escape_within(alert.text, self.max_section_chars)
        payload = {
            "text": escape(title),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            ],
            "unfurl_links": False,
            "unfurl_media": False,
        }
        try:
            self._post(self._session, url, payload)
        except HttpError as exc:
            raise DeliveryError(str(exc)) from None
        return DeliveryResult(delivered=1)
