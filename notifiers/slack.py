"""``slack``: Block Kit digests through an incoming webhook, split within Slack's limits."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import requests
from pydantic import Field

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
    clean_digest,
)
from mention_monitor.notifiers.render import (
    POST_TEXT_CHARS,
    display_time,
    engagement,
    followers,
    more_note,
    post_text,
    select,
    subject,
)
from mention_monitor.notifiers.summary import alert_text, slack_period_blocks
from mention_monitor.notifiers.text import clean_line


def escape(text: str) -> str:
    """Slack's escaping for untrusted text: exactly ``&``, ``<`` and ``>``, nothing else.

    That turns ``<!channel>``, ``<@U123>``, ``<#C123>`` and ``<url|label>`` into literal text.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# mrkdwn has no escape for its formatting characters (a backslash stays visible and a
# zero-width space can even *enable* formatting), so they become look-alikes that do not format.
_FORMATTING = str.maketrans(
    {
        "*": "\u2217",  # asterisk operator
        "\uff0a": "\ufe61",  # fullwidth asterisk -> small asterisk
        "_": "\u02cd",  # modifier letter low macron
        "\uff3f": "\u2e0f",  # fullwidth low line -> paragraphos
        "~": "\u223c",  # tilde operator
        "`": "\u02cb",  # modifier letter grave accent
        "\uff40": "\u02cb",  # fullwidth grave accent -> modifier letter grave accent
    }
)
_URL_TOKEN = re.compile(r"https?://\S+", re.IGNORECASE)
# A line starting with ">" (escaped "&gt;", or fullwidth) is a block quote; after a soft
# hyphen it is not.
_QUOTE = re.compile("^(&gt;|\uff1e)", re.MULTILINE)


def neutralise(text: str) -> str:
    """Formatting characters (``* _ ~ ` ``) as look-alikes, except inside URLs Slack links."""
    out: list[str] = []
    pos = 0
    for match in _URL_TOKEN.finditer(text):
        out.append(text[pos : match.start()].translate(_FORMATTING))
        out.append(match.group(0))
        pos = match.end()
    out.append(text[pos:].translate(_FORMATTING))
    return "".join(out)


def mrkdwn(text: str) -> str:
    """Untrusted (cleaned) text as inert mrkdwn: escaped, formatting and quotes neutralised."""
    return _QUOTE.sub("\u00ad\\1", escape(neutralise(text)))


def slack_len(text: str) -> int:
    """Length as Slack counts it, conservatively: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def mrkdwn_within(text: str, budget: int) -> str:
    """``mrkdwn(text)`` in at most ``budget`` units: cut at a character of ``text`` (never
    inside ``&amp;``), with ``…``."""
    full = mrkdwn(text)
    if slack_len(full) <= budget:
        return full
    lo, hi = 0, len(text)  # the longest start of text whose rendering fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if slack_len(mrkdwn(text[:mid].rstrip())) + 1 <= budget:
            lo = mid
        else:
            hi = mid - 1
    return mrkdwn(text[:lo].rstrip()) + "…"


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
    #: Slack refuses a message whose blocks hold more than about 12,000 characters in all
    #: (``msg_blocks_too_long``), far below the per-block limits: the header counts too.
    max_message_chars: ClassVar[int] = 12000
    #: Where a post's text is cut (as in email); the link to the whole post follows it.
    max_post_chars: ClassVar[int] = POST_TEXT_CHARS
    seconds_between_messages: ClassVar[float] = 1.0
    max_rate_limit_waits: ClassVar[int] = 5
    max_retry_after: ClassVar[float] = 60.0
    _session: requests.Session | None = None

    # -- rendering ---------------------------------------------------------------------------
    def section_text(self, m: Mention) -> str:
        """One (cleaned) mention as mrkdwn: every piece of a stranger's text made inert."""
        name = mrkdwn(m.author_label)
        head = f"*{name}*"
        if m.author_username:
            head += f" <{m.profile_url}|@{mrkdwn(m.author_username)}>"
        meta = [followers(m)]
        if display_time(m.created_at):
            meta.append(display_time(m.created_at))
        if m.sentiment:
            meta.append(m.sentiment)
        head += " · " + " · ".join(meta)
        foot = f"{engagement(m, ' · ')} · <{m.url}|View post>"
        budget = self.max_section_chars - slack_len(head) - slack_len(foot) - 2
        return f"{head}\n{mrkdwn_within(post_text(m, self.max_post_chars), budget)}\n{foot}"

    def _section(self, m: Mention) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": self.section_text(m)}}

    def _shown(self, digest: Digest) -> tuple[list[Mention], int]:
        """The mentions to send (at most ``max_mentions``) and how many more there are."""
        if digest.is_alert:
            return list(digest.mentions), 0
        return select(digest, self.options.max_mentions)

    def _lead(self, digest: Digest) -> list[dict[str, Any]]:
        """What the first message carries before the mentions: a scheduled digest's period
        summary as fields, a spike alert's numbers, how many mentions are not shown."""
        blocks: list[dict[str, Any]] = []
        if digest.period is not None:
            blocks = slack_period_blocks(digest.period, mrkdwn)
        text = alert_text(digest) if digest.is_alert else ""
        if text:
            blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text)}]}]
        shown, more = self._shown(digest)
        if more:
            note = more_note(len(shown), more)
            link = f": <{digest.search_url}|see them all on X>" if digest.search_url else ""
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": note + link}})
        return blocks

    def _chunks(self, digest: Digest) -> list[list[tuple[Mention, dict[str, Any]]]]:
        """Mentions in ascending ID order, grouped so each message fits Slack's limits."""
        chunks: list[list[tuple[Mention, dict[str, Any]]]] = [[]]
        lead = self._lead(digest)
        # Blocks Slack counts toward its 12,000 characters: the header, the lead, the sections.
        budget = self.max_message_chars - self.max_header_chars
        size = sum(len(json.dumps(b, ensure_ascii=False)) for b in lead)
        reserved = len(lead)  # the first message also carries the lead blocks
        mentions, _ = self._shown(digest)
        if not digest.is_alert:
            mentions.sort(key=lambda x: x.id)
        for m in mentions:
            block = self._section(m)
            block_size = slack_len(block["text"]["text"])
            current = chunks[-1]
            if current and (
                len(current) + 1 + reserved >= self.max_blocks or size + block_size > budget
            ):
                chunks.append([])
                size = reserved = 0
            chunks[-1].append((m, block))
            size += block_size
        return [c for c in chunks if c] or [[]]

    def payloads(self, digest: Digest) -> list[tuple[list[Mention], dict[str, Any]]]:
        """Every message of the digest with the mentions it carries, in sending order."""
        digest = clean_digest(digest)
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
                    *(self._lead(digest) if i == 1 else []),
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
                reason = clean_line(resp.text or "", 200)
                raise DeliveryError(f"Slack refused the message: HTTP {resp.status_code} {reason}")

        policy.call(
            lambda timeout: session.post(url, json=payload, timeout=timeout),
            check,
        )

    def _pause(self) -> None:
        """About one message a second; the pause counts against the run's time budget."""
        budget = self.services.budget
        if budget is not None and budget.remaining() <= self.seconds_between_messages:
            raise HttpError("run time budget exhausted before the next message")
        self.services.clock.sleep(self.seconds_between_messages)

    def _deliver(self, digest: Digest) -> DeliveryResult:
        url = self.secrets.get(self.options.webhook_url_secret)
        messages = self.payloads(digest)
        if self._session is None:
            self._session = self.services.http_session()
        sent: list[Mention] = []
        for i, (mentions, payload) in enumerate(messages, 1):
            try:
                if i > 1:
                    self._pause()
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
