"""JSON-lines logging to stderr (Powertools' formatter) with every known secret value masked."""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import TextIO

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

MASK = "***"
SERVICE = "mention-monitor"
_THIRD_PARTY = (
    "botocore",
    "boto3",
    "urllib3",
    "s3transfer",
    "requests_oauthlib",
    "oauthlib",
)


def _escaped_forms(value: str) -> set[str]:
    """``value`` as Python shows it in a ``repr`` (as text, and as bytes: tracebacks show
    ``b'Bearer ...\\r'``), and each of those inside a JSON string (ASCII-only or not), as in a
    JSON log line's message or stack trace."""
    shown = {value, repr(value)[1:-1], repr(value.encode("utf-8", "surrogateescape"))[2:-1]}
    forms = set(shown)
    for text in shown:
        forms.update(json.dumps(text, ensure_ascii=flag)[1:-1] for flag in (True, False))
    forms.discard(value)
    return {f for f in forms if f}


class _SecretRegistry:
    """The secret values this process has loaded; anything we print is masked against them."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        # Very short values would mask innocent text and add no protection.
        if len(value) >= 4:
            with self._lock:
                self._values.add(value)
                self._values.update(_escaped_forms(value))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def redact(self, text: str) -> str:
        if not self._values:
            return text
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        return text


SECRETS = _SecretRegistry()


def register_secret(value: str) -> None:
    """Mask ``value`` in every log line and message from now on."""
    SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret value replaced by ``***``."""
    return SECRETS.redact(text)


#: What a terminal acts on or a log viewer reorders, beyond what JSON escapes itself (C0):
#: DEL, C1 controls (``\x9b`` is CSI), line and paragraph separators, bidi embeddings,
#: overrides and isolates, and lone surrogates (no UTF-8 encoder writes those).
_LIVE = (0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
         *range(0x2066, 0x206A), *range(0xD800, 0xE000))
_AS_JSON_ESCAPE = {c: f"\\u{c:04x}" for c in _LIVE}
_AS_TEXT_ESCAPE = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
    **{c: f"\\u{c:04x}" for c in _LIVE if c > 0xFF},
}


def inert_json(line: str) -> str:
    """A JSON text (``ensure_ascii=False``) safe for a terminal or a log: the characters of
    :data:`_LIVE` become ``\\uXXXX`` escapes. They only occur inside strings, so it is the
    same JSON; JSON already escapes C0 controls."""
    return line.translate(_AS_JSON_ESCAPE)


def inert_line(text: str) -> str:
    """One line of plain text safe for a terminal or a log: whitespace runs folded to one
    space, every other control, bidi control or lone surrogate shown as an escape."""
    return " ".join(text.split()).translate(_AS_TEXT_ESCAPE)


def unexpected(exc: BaseException) -> str:
    """One masked line for an exception nobody raised on purpose: its type and message
    (masked first, then folded onto one inert line and cut)."""
    text = inert_line(redact(str(exc)))[:500]
    name = type(exc).__name__
    return f"unexpected error: {name}: {text}" if text else f"unexpected error: {name}"


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with a final pass over the whole line that masks secret values
    and escapes what a terminal or log viewer would act on (:func:`inert_json`).

    The pass runs on the serialised line, so the message, ``extra`` fields, the exception text
    and the structured ``stack_trace`` are all covered.
    """

    def format(self, record: logging.LogRecord) -> str:
        return inert_json(redact(super().format(record)))


#: The one formatter: every handler below uses it, so the Lambda context keys that
#: ``LAMBDA_LOGGER.inject_lambda_context`` appends reach every module's lines.
FORMATTER = RedactingFormatter(
    utc=True,
    use_rfc3339=True,
    # logger name, function and line: "mention_monitor.run.run_once:42"
    location="%(name)s.%(funcName)s:%(lineno)d",
    service=SERVICE,
)

#: Powertools' Logger, used for its Lambda context injection (request id, cold start, function
#: name, memory, ARN). Its handler writes nothing: its records propagate to the root handler.
#: Created at import, before ``configure_logging`` adds the root handler, so Powertools'
#: duplicate filter (added to the root handlers present at creation) never sits on ours.
LAMBDA_LOGGER = Logger(
    service=SERVICE, logger_formatter=FORMATTER, logger_handler=logging.NullHandler()
)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send JSON lines to stderr at ``level``; keep chatty SDK loggers at WARNING.

    stdout stays free of logs (the CLI's JSON summary is its last line). botocore at DEBUG
    logs raw response bodies (including GetSecretValue), so SDK loggers never follow our
    level down.
    """
    handler: logging.Handler = logging.StreamHandler(stream) if stream else _StderrHandler()
    handler.setFormatter(FORMATTER)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Powertools' own logger follows the root (it would otherwise stay at INFO).
    logging.getLogger(SERVICE).setLevel(logging.NOTSET)
    for name in _THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.WARNING)


def reset_lambda_context() -> None:
    """Drop the Lambda context keys and mark the next invocation cold (tests: a new container)."""
    import aws_lambda_powertools.logging.logger as powertools_logger

    FORMATTER.clear_state()
    powertools_logger.is_cold_start = True
