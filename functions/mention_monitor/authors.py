"""Authors read once: X's user lookup (``GET /2/users?ids=``, 100 a request) for authors not
in the state store's cache, kept ``author_ttl_days``; a failed lookup never loses a mention."""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
from cachetools import LRUCache

from mention_monitor.clock import Clock
from mention_monitor.errors import SourceError
from mention_monitor.http import HttpError
from mention_monitor.logs import redact
from mention_monitor.models import Mention
from mention_monitor.ratelimit import RateBudget
from mention_monitor.results import WatchResult
from mention_monitor.spend import SpendGuard
from mention_monitor.state import StateStore
from mention_monitor.xparse import parse_author, show_id
from mention_monitor.xsource import USER_FIELDS, USERS_PATH, XClient

log = logging.getLogger(__name__)

LOOKUP_MAX = 100  # ids per request (X's limit)
MEMORY_AUTHORS = 4096  # authors kept in memory per process; the store keeps the rest


class AuthorResolver:
    """Fills in the author fields of a page of mentions; shared by a run's workers.

    Authors come from memory, else the state store, else X; what X returns is stored with
    its fetch time and used until it is older than ``ttl_seconds``. Only X's answers are
    counted as ``users_read`` (that is what X bills).
    """

    def __init__(
        self,
        client: XClient,
        store: StateStore,
        clock: Clock,
        *,
        ttl_seconds: float,
        rate: RateBudget,
        spend: SpendGuard | None = None,
        dry_run: bool = False,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.ttl = ttl_seconds
        self.rate = rate
        self.spend = spend
        self.dry_run = dry_run
        self.url = client.api_base + USERS_PATH
        self._memory: LRUCache[str, tuple[dict[str, Any], int]] = LRUCache(MEMORY_AUTHORS)
        self._lock = threading.Lock()

    def _fresh(self, entry: tuple[dict[str, Any], int] | None, now: int) -> bool:
        return entry is not None and now - entry[1] < self.ttl

    def _known(self, ids: list[str], now: int) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for i in ids:
                entry = self._memory.get(i)
                if entry is not None and self._fresh(entry, now):
                    out[i] = entry[0]
        rest = [i for i in ids if i not in out]
        for start in range(0, len(rest), LOOKUP_MAX):
            stored = self.store.get_authors(rest[start : start + LOOKUP_MAX])
            with self._lock:
                for i, entry in stored.items():
                    if self._fresh(entry, now):
                        self._memory[i] = entry
                        out[i] = entry[0]
        return out

    def resolve(self, page: list[Mention], result: WatchResult) -> list[Mention]:
        """``page`` with what is known of each author (unknown ones keep only their ID)."""
        now = int(self.clock.now())
        ids = list(dict.fromkeys(m.author_id for m in page if m.author_id.isdigit()))
        if not ids:
            return page
        known = self._known(ids, now)
        missing = [i for i in ids if i not in known]
        for start in range(0, len(missing), LOOKUP_MAX):
            try:
                found = self._lookup(missing[start : start + LOOKUP_MAX], result)
            except SourceError as exc:
                result.warnings.append(
                    f"author lookup failed ({redact(str(exc))}); mentions kept without "
                    "author details"
                )
                break
            found = self._readable(found, result)
            known.update(found)
            if found and not self.dry_run:
                self.store.put_authors(list(found.values()), now, int(now + self.ttl))
            with self._lock:
                for i, user in found.items():
                    self._memory[i] = (user, now)
        out = []
        for m in page:
            author = known.get(m.author_id)
            out.append(m if author is None else m.with_author(*parse_author(author)))
        return out

    @staticmethod
    def _readable(
        users: dict[str, dict[str, Any]], result: WatchResult
    ) -> dict[str, dict[str, Any]]:
        """The users whose fields can be read; the others are named in a warning."""
        out = {}
        for user_id, user in users.items():
            try:
                parse_author(user)
            except ValueError as exc:
                result.warnings.append(
                    f"X sent a malformed user (id {show_id(user_id)}): {exc}; mentions kept "
                    "without author details"
                )
                continue
            out[user_id] = user
        return out

    def _lookup(self, ids: list[str], result: WatchResult) -> dict[str, dict[str, Any]]:
        """One ``GET /2/users?ids=``; the users X returned, by ID."""
        if not self.rate.take():
            raise SourceError("X's user lookup rate limit is used up until after this run")

        def count() -> None:
            result.user_requests += 1

        policy = self.client.policy(count, observe=self.rate.observe)
        params = {"ids": ",".join(ids), "user.fields": USER_FIELDS}
        session = self.client.session
        try:
            body: dict[str, Any] = policy.call(
                lambda timeout: session.get(self.url, params=params, timeout=timeout), _check
            )
        except HttpError as exc:
            raise SourceError(str(exc)) from None
        data = body.get("data")
        users = [u for u in data if isinstance(u, dict)] if isinstance(data, list) else []
        result.users_read += len(users)  # what X bills, readable or not
        if self.spend is not None:
            self.spend.record(0, len(users))
        return {u["id"]: u for u in users if isinstance(u.get("id"), str) and u["id"] in ids}


def _check(resp: requests.Response) -> dict[str, Any]:
    if resp.status_code != 200:
        raise SourceError(f"HTTP {resp.status_code} from X's user lookup")
    try:
        body = resp.json()
    except ValueError:
        raise SourceError("malformed JSON from X's user lookup") from None
    if not isinstance(body, dict):
        raise SourceError("unexpected JSON from X's user lookup")
    return body
