"""Text cleaning every renderer shares: invalid code points, bidi and control characters, cuts."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: Embeddings, overrides (U+202A..U+202E) and isolates (U+2066..U+2069): they let a stranger's
#: text reorder what is shown around it (``\u202e`` makes ``evil.example`` read backwards).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: C0 and C1 control characters (and DEL), except the line feed and tab that text keeps.
CONTROLS = frozenset(
    chr(c) for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in "\n\t"
)
#: What else ends a line somewhere (terminals, log shippers, ``str.splitlines``): one ``\n``.
_LINE_BREAKS = {"\r": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"}
_TABLE = str.maketrans({**{c: None for c in CONTROLS | BIDI_CONTROLS}, **_LINE_BREAKS})
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate (not encodable in UTF-8) replaced by U+FFFD."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_text(text: str) -> str:
    """Multi-line text as every medium may show it: valid Unicode, ``\\n`` line breaks, tabs,
    and no bidi or other control characters."""
    return valid_unicode(text).replace("\r\n", "\n").translate(_TABLE)


def clean_line(text: str, limit: int | None = None) -> str:
    """A single line (names, handles): cleaned, whitespace runs made one space, cut to ``limit``."""
    line = _SPACES.sub(" ", clean_text(text)).strip()
    return cut(line, limit) if limit is not None else line


def cut(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` if it has at most ``limit`` characters, else its start and ``ellipsis``."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ellipsis), 0)].rstrip() + ellipsis


def plural(count: int, noun: str, shown: str | None = None) -> str:
    """``1 like``, ``2 likes``, ``0 likes``; ``shown`` replaces the number (``12K followers``)."""
    return f"{shown if shown is not None else count} {noun if count == 1 else noun + 's'}"


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)")


def valid_host(host: str) -> bool:
    """A DNS name with a top-level domain (IDNA allowed) or a dotted IPv4 address."""
    host = host.lower().removesuffix(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    if _IPV4.fullmatch(host):
        return True
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2:
        return False
    return all(_LABEL.fullmatch(label) for label in labels) and bool(_TLD.fullmatch(labels[-1]))


def linkable(url: str) -> bool:
    """True if ``url`` may become a link: http(s), a valid host, no user part, a valid port.

    ``https://evil.example|x.com`` (host ``evil.example|x.com``) and
    ``https://bank.example@evil.example/`` stay text.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return False
    return bool(parts.hostname) and valid_host(parts.hostname or "")
