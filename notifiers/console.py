"""``console``: a readable digest on stdout (or stderr)."""

from __future__ import annotations

import sys
from typing import Literal

from mention_monitor.notifiers import (
    Alert,
    DeliveryResult,
    Digest,
    Notifier,
    NotifierOptions,
    Preview,
)
from mention_monitor.notifiers.render import render_text


class ConsoleOptions(NotifierOptions):
    stream: Literal["stdout", "stderr"] = "stdout"


class ConsoleNotifier(Notifier[ConsoleOptions]):
    type_name = "console"

    def _render(self, digest: Digest) -> str:
        rule = "=" * 72
        return f"{rule}\n{render_text(digest, self.options.max_mentions)}{rule}\n"

    def _write(self, text: str) -> None:
        stream = sys.stdout if self.options.stream == "stdout" else sys.stderr
        stream.write(text)
        stream.flush()

    def _deliver(self, digest: Digest) -> DeliveryResult:
        self._write(self._render(digest))
        return self.accepted(digest.mentions)

    def _deliver_alert(self, alert: Alert) -> DeliveryResult:
        rule = "=" * 72
        self._write(f"{rule}\n{alert.title}\n\n{alert.text}\n{rule}\n")
        return DeliveryResult(delivered=1)

    def preview(self, digest: Digest) -> Preview:
        return Preview(self._render(digest), "text/plain", f"{digest.count} mentions")
