"""Fake Slack incoming webhook: answers ``ok`` and records what it accepted."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.http import FakeServer, Received, Reply

WEBHOOK_PATH = "/services/T000/B000/XXXXsecretXXXX"
#: What Slack refuses (facts.md; issue 9): more than 50 blocks, a section text over 3,000 or a
#: header over 150 characters (``invalid_blocks``), and blocks holding more than 12,000
#: characters in all (``msg_blocks_too_long``).
MAX_BLOCKS, MAX_SECTION, MAX_HEADER, MAX_BLOCK_CHARS = 50, 3000, 150, 12000


def _texts(block: dict[str, Any]) -> list[tuple[str, int]]:
    """Each text of a block with its own limit: a header's, a section's, its fields' (2,000)."""
    limit = MAX_HEADER if block.get("type") == "header" else MAX_SECTION
    texts = [(block["text"]["text"], limit)] if isinstance(block.get("text"), dict) else []
    texts += [(f["text"], 2000) for f in block.get("fields") or []]
    texts += [(e["text"], MAX_SECTION) for e in block.get("elements") or [] if "text" in e]
    return texts


def limits_violation(payload: dict[str, Any]) -> str | None:
    """Slack's answer to a payload over its limits, or None."""
    blocks = payload.get("blocks") or []
    texts = [t for b in blocks for t in _texts(b)]
    if len(blocks) > MAX_BLOCKS or any(len(text) > limit for text, limit in texts):
        return "invalid_blocks"
    if sum(len(text) for text, _ in texts) > MAX_BLOCK_CHARS:
        return "msg_blocks_too_long"
    return None


class FakeSlack(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        #: Requests answered 200 ``ok``, in order.
        self.accepted: list[Received] = []

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    def _record(self, req: Received, reply: Reply) -> Reply:
        if reply.status == 200:
            self.accepted.append(req)
        return reply

    def default(self, req: Received) -> Reply:
        if req.method != "POST" or req.path != WEBHOOK_PATH:
            return Reply(404, "no_service")
        if req.headers.get("content-type", "").split(";")[0] != "application/json":
            return Reply(400, "invalid_payload")
        refused = limits_violation(req.json())
        if refused:
            return Reply(400, refused)
        return self._record(req, Reply(200, "ok"))

    def then(self, *replies: Reply | Callable[[Received], Reply]) -> None:
        def recording(r: Reply | Callable[[Received], Reply]) -> Callable[[Received], Reply]:
            return lambda req: self._record(req, r(req) if callable(r) else r)

        super().then(*(recording(r) for r in replies))

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """Payloads Slack accepted, in order."""
        return [r.json() for r in self.accepted]

    @property
    def tweet_ids(self) -> list[int]:
        """Tweet IDs of every mention Slack accepted, in order, with repeats."""
        return [i for p in self.payloads for i in payload_ids(p)]


def payload_ids(payload: dict[str, Any]) -> list[int]:
    """Tweet IDs of the mention sections of one payload (from their 'View post' links)."""
    return [
        int(m)
        for b in payload["blocks"]
        if b["type"] == "section"
        for m in re.findall(r"/status/(\d+)\|View post>", b["text"]["text"])
    ]


def rate_limited(seconds: int) -> Reply:
    return Reply(429, "rate_limited", {"Retry-After": str(seconds)})
