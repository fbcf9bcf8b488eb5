"""``webhook``: POST each digest as JSON to a URL kept in the secret."""

from __future__ import annotations

import json

import requests
from mention_monitor.errors import DeliveryError
from mention_monitor.models import DeliveryResult, Digest
from mention_monitor.notifiers.base import Notifier, NotifierOptions, Preview


class WebhookOptions(NotifierOptions):
    url_secret: str = "webhook_url"  # the *key* of the URL in the secret, never the URL
    timeout_seconds: float = 10.0


class WebhookNotifier(Notifier):
    type_name = "webhook"
    Options = WebhookOptions

    def _payload(self, digest: Digest) -> dict[str, object]:
        return {
            "watch": digest.watch,
            "count": digest.count,
            "mentions": [json.loads(m.to_json()) | {"url": m.url} for m in digest.mentions],
        }

    def _deliver(self, digest: Digest) -> DeliveryResult:
        assert isinstance(self.options, WebhookOptions)
        url = self.secrets.get(self.options.url_secret)
        try:
            resp = requests.post(url, json=self._payload(digest), timeout=self.options.timeout_seconds)
        except requests.RequestException as exc:  # its message contains the URL: keep it out
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from None
        if resp.status_code >= 300:
            raise DeliveryError(f"webhook answered HTTP {resp.status_code}")
        return self.accepted(digest.mentions)

    def preview(self, digest: Digest) -> Preview:
        return Preview(json.dumps(self._payload(digest), indent=2), "application/json")
