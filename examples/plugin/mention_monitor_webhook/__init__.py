"""``webhook``: POST each digest as JSON to a URL kept in the secret.

A notifier plugin imports only ``mention_monitor.notifiers``; the base class gives it a typed
``self.options``, its secrets and the run's services (clock, HTTP session, AWS clients).
"""

from __future__ import annotations

import json

import requests

from mention_monitor.notifiers import (
    DeliveryError,
    DeliveryResult,
    Digest,
    Notifier,
    NotifierOptions,
    Preview,
)


class WebhookOptions(NotifierOptions):
    url_secret: str = "webhook_url"  # the *key* of the URL in the secret, never the URL
    timeout_seconds: float = 10.0


class WebhookNotifier(Notifier[WebhookOptions]):
    type_name = "webhook"

    def _payload(self, digest: Digest) -> dict[str, object]:
        # digest.title: "3 new mentions of Acme", or a spike alert's / quiet period's headline
        return {
            "watch": digest.watch,
            "kind": digest.kind,
            "title": digest.title,
            "count": digest.count,
            "mentions": [json.loads(m.to_json()) | {"url": m.url} for m in digest.mentions],
        }

    def _deliver(self, digest: Digest) -> DeliveryResult:
        url = self.secrets.get(self.options.url_secret)
        session = self.services.http_session()
        try:
            resp = session.post(url, json=self._payload(digest), timeout=self.options.timeout_seconds)
        except requests.RequestException as exc:  # its message contains the URL: keep it out
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from None
        if resp.status_code >= 300:
            raise DeliveryError(f"webhook answered HTTP {resp.status_code}")
        return self.accepted(digest.mentions)

    def preview(self, digest: Digest) -> Preview:
        return Preview(json.dumps(self._payload(digest), indent=2), "application/json")
