"""Digest rendering shared by notifiers: plain text and inert, inline-styled HTML."""

from __future__ import annotations

import html
import re
from datetime import datetime

from mention_monitor.notifiers import Digest, Mention, clean_digest
from mention_monitor.notifiers.summary import (
    alert_html,
    alert_text,
    label_html,
    period_html,
    period_text,
)
from mention_monitor.notifiers.summary import (
    compact_number as compact_number,
)
from mention_monitor.notifiers.text import clean_line, cut, linkable, plural

#: Where email (and Slack) cut a post's text; the link to the whole post follows it.
POST_TEXT_CHARS = 2000
#: Every line of a mention in plain text starts with this, so no line of a stranger's text
#: starts a line of output (a post must not read like a log or metric record: ``{"_aws":``).
INDENT = "  "

# Only http(s) URLs become links; quotes and angle brackets end a URL so nothing can break out
# of the attribute even before escaping.
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"


def subject(digest: Digest) -> str:
    """``12 new mentions of Acme`` (``1 new mention of Acme``), or the digest's headline (a
    spike alert's message, a quiet period's "no new mentions of Acme since ..."), one line."""
    return clean_line(digest.title)


def display_time(created_at: str) -> str:
    """``2026-11-25T13:04:05.000Z`` -> ``2026-11-25 13:04 UTC``; unknown formats -> ``""``."""
    if not created_at:
        return ""
    try:
        parsed = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return ""  # never echo an unparseable value: it is untrusted input
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def followers(m: Mention) -> str:
    """``1 follower``, ``12.3K followers``."""
    return plural(m.author_followers, "follower", compact_number(m.author_followers))


def engagement(m: Mention, sep: str = "  ") -> str:
    """``♥ 1 like  ⟲ 2 reposts``."""
    return f"♥ {plural(m.like_count, 'like')}{sep}⟲ {plural(m.repost_count, 'repost')}"


def more_note(shown: int, more: int) -> str:
    """``Showing the 5 most-followed authors; 7 more mentions on X``."""
    top = "the most-followed author" if shown == 1 else f"the {shown} most-followed authors"
    return f"Showing {top}; {plural(more, 'more mention')} on X"


def post_text(m: Mention, max_chars: int | None) -> str:
    """The post's text, cut to ``max_chars`` (the link to the whole post always follows)."""
    return m.text if max_chars is None else cut(m.text, max_chars)


def select(digest: Digest, limit: int) -> tuple[list[Mention], int]:
    """Mentions to show and how many more the digest stands for: all in ID order, or, when
    not all can be shown (above ``limit``, or the run already bounded the digest), at most
    ``limit`` with the most-followed authors first."""
    mentions = list(digest.mentions)
    if len(mentions) <= limit and not digest.more:
        return mentions, 0
    ranked = sorted(mentions, key=lambda m: (-m.author_followers, -m.id))[:limit]
    return ranked, digest.count - len(ranked)


def linkify_html(text: str) -> str:
    """Escape ``text`` for HTML, keep line breaks, and turn http(s) URLs into safe links.

    Only a URL with a valid host becomes a link (:func:`~text.linkable`); its visible text is
    its address, isolated left-to-right (``dir="ltr"``) so neighbouring text cannot reorder it.
    """
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        trail = ""
        while url and url[-1] in _TRAILING:
            trail = url[-1] + trail
            url = url[:-1]
        if not linkable(url):
            continue  # stays text, escaped with what surrounds it
        out.append(html.escape(text[pos : match.start()]))
        href = html.escape(url, quote=True)
        out.append(
            f'<a href="{href}" dir="ltr" rel="noopener noreferrer nofollow" '
            f'style="color:#1d9bf0;text-decoration:none;word-break:break-all">{href}</a>'
        )
        out.append(html.escape(trail))
        pos = match.end()
    out.append(html.escape(text[pos:]))
    return "".join(out).replace("\r\n", "\n").replace("\n", "<br>\n")


def mention_text_block(m: Mention, max_chars: int | None = None) -> str:
    """Plain-text lines for one (cleaned) mention: ``- author`` then every line indented."""
    name = m.author_label
    who = f"{name} (@{m.author_username})" if m.author_username else name
    head = " · ".join(p for p in (who, followers(m), display_time(m.created_at), m.sentiment) if p)
    body = [f"{INDENT}{line}" for line in post_text(m, max_chars).split("\n")]
    return "\n".join([f"- {head}", *body, f"{INDENT}{engagement(m)}  {m.url}"])


def render_text(digest: Digest, limit: int = 100, max_chars: int | None = None) -> str:
    """The digest as plain text: the subject, then each mention (cut to ``max_chars``)."""
    digest = clean_digest(digest)
    shown, more = select(digest, limit)
    parts = [subject(digest), ""]
    if digest.period is not None:
        parts.append(period_text(digest.period))
    if digest.is_alert and alert_text(digest):
        parts.append(alert_text(digest))
    if more:
        parts.append(f"{more_note(len(shown), more)}:")
        if digest.search_url:
            parts.append(digest.search_url)
        parts.append("")
    for m in shown:
        parts.append(mention_text_block(m, max_chars))
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


_FONT = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif"


def _mention_html(m: Mention, max_chars: int | None) -> str:
    # <bdi> isolates right-to-left names so they cannot reorder the text around them.
    name = html.escape(m.author_label)
    handle = html.escape(m.author_username)
    profile = html.escape(m.profile_url, quote=True)
    post = html.escape(m.url, quote=True)
    when = html.escape(display_time(m.created_at))
    meta = [html.escape(followers(m))] + ([when] if when else [])
    handle_link = (
        f' <a href="{profile}" style="color:#536471;text-decoration:none">@{handle}</a>'
        if handle
        else ""
    )
    return (
        '<tr><td style="padding:14px 16px;border-bottom:1px solid #eff3f4">'
        f'<div style="{_FONT};font-size:14px;color:#0f1419">'
        f"<strong><bdi>{name}</bdi></strong>{handle_link}"
        f' <span style="color:#536471">· {" · ".join(meta)}</span>{label_html(m)}</div>'
        f'<div dir="auto" style="{_FONT};font-size:15px;line-height:1.4;color:#0f1419;'
        f'margin:6px 0;word-wrap:break-word;overflow-wrap:anywhere;word-break:break-word">'
        f"{linkify_html(post_text(m, max_chars))}</div>"
        f'<div style="{_FONT};font-size:13px;color:#536471">'
        f"{engagement(m, ' &nbsp; ')} &nbsp; "
        f'<a href="{post}" style="color:#1d9bf0;text-decoration:none">View post</a></div>'
        "</td></tr>"
    )


def render_html(digest: Digest, limit: int = 100, max_chars: int | None = None) -> str:
    """A complete HTML document: inline styles, no scripts, no remote images."""
    digest = clean_digest(digest)
    shown, more = select(digest, limit)
    title = html.escape(subject(digest))
    rows = "\n".join(_mention_html(m, max_chars) for m in shown)
    if digest.period is not None:
        rows = period_html(digest.period) + "\n" + rows
    if digest.is_alert:
        rows = alert_html(digest) + "\n" + rows
    note = ""
    if more:
        search = html.escape(digest.search_url, quote=True)
        note = (
            f'<tr><td style="padding:12px 16px;{_FONT};font-size:14px;color:#536471">'
            f"{html.escape(more_note(len(shown), more))}: "
            f'<a href="{search}" style="color:#1d9bf0">see them all on X</a></td></tr>'
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{title}</title></head>\n"
        '<body style="margin:0;padding:0;background:#f7f9f9">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="background:#f7f9f9"><tr><td align="center" style="padding:16px">\n'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" '
        'style="max-width:600px;width:100%;background:#ffffff;border:1px solid #eff3f4;'
        'border-radius:12px">\n'
        f'<tr><td style="padding:16px;{_FONT};font-size:20px;font-weight:bold;color:#0f1419;'
        f'border-bottom:1px solid #eff3f4">{title}</td></tr>\n'
        f"{note}\n{rows}\n"
        "</table></td></tr></table>\n</body></html>\n"
    )
