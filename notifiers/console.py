"""``console``: a readable digest on stdout (or stderr)."""

from __future__ import annotations

import sys
from typing import Literal

from pydantic import Field

from mention_monitor.notifiers import DeliveryResult, Digest, Notifier, NotifierOptions, Preview
from mention_monitor.notifiers.render import render_text


def _inert_line(line: str) -> str:
    """``  {"_aws": ...}`` -> ``  | {"_aws": ...}``: no output line parses as a JSON object or
    array, whatever its indent."""
    text = line.lstrip(" \t")
    if text.startswith(("{", "[")):
        return f"{line[: len(line) - len(text)]}| {text}"
    return line


class ConsoleOptions(NotifierOptions):
    stream: Literal["stdout", "stderr"] = "stdout"
    max_mentions: int = Field(100, ge=1, le=10000)


class ConsoleNotifier(Notifier[ConsoleOptions]):
    """Plain text for a terminal or a log (Lambda sends stdout to CloudWatch Logs).

    ``render_text`` has removed every control character but newline and tab (no ESC or OSC
    sequence reaches the terminal) and indents every line of a mention, so no line of a post
    starts a line of output: a post cannot pass for a log line. JSON allows whitespace before a
    value, so an indented ``{"_aws": ...}`` could still read as a metric record to a lenient log
    parser: a line whose text opens with ``{`` or ``[`` gets a ``| `` gutter after its indent.
    """

    type_name = "console"

    def _render(self, digest: Digest) -> str:
        rule = "=" * 72
        lines = render_text(digest, self.options.max_mentions).split("\n")
        text = "\n".join(_inert_line(line) for line in lines)
        return f"{rule}\n{text}{rule}\n"

    def _deliver(self, digest: Digest) -> DeliveryResult:
        stream = sys.stdout if self.options.stream == "stdout" else sys.stderr
        stream.write(self._render(digest))
        stream.flush()
        return self.accepted(digest.mentions)

    def preview(self, digest: Digest) -> Preview:
        return Preview(self._render(digest), "text/plain", f"{digest.count} mentions")
