"""Digest rendering shared by notifiers: plain text and inert, inline-styled HTML."""

from __future__ import annotations

import html
import re
from datetime import datetime

from mention_monitor.notifiers import Digest, Mention
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

# Only http(s) URLs become links; quotes and angle brackets end a URL so nothing can break out
# of the attribute even before escaping.
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"


def subject(digest: Digest) -> str:
    """``12 new mentions of Acme`` (``1 new mention of Acme``), or the digest's headline (a
    spike alert's message, a quiet period's "no new mentions of Acme since ...")."""
    return digest.title


def display_time(created_at: str) -> str:
    """``2026-11-25T13:04:05.000Z`` -> ``2026-11-25 13:04 UTC``; unknown formats -> ``""``."""
    if not created_at:
        return ""
    try:
        parsed = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return ""  # never echo an unparseable value: it is untrusted input
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def select(digest: Digest, limit: int) -> tuple[list[Mention], int]:
    """Mentions to show: all in ID order, or above ``limit`` the most-followed first."""
    mentions = list(digest.mentions)
    if len(mentions) <= limit:
        return mentions, 0
    ranked = sorted(mentions, key=lambda m: (-m.author_followers, -m.id))
    return ranked[:limit], len(mentions) - limit


def linkify_html(text: str) -> str:
    """Escape ``text`` for HTML, keep line breaks, and turn http(s) URLs into safe links."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        trail = ""
        while url and url[-1] in _TRAILING:
            trail = url[-1] + trail
            url = url[:-1]
        out.append(html.escape(text[pos : match.start()]))
        href = html.escape(url, quote=True)
        out.append(
            f'<a href="{href}" rel="noopener noreferrer nofollow" '
            f'style="color:#1d9bf0;text-decoration:none;word-break:break-all">{html.escape(url)}</a>'
        )
        out.append(html.escape(trail))
        pos = match.end()
    out.append(html.escape(text[pos:]))
    return "".join(out).replace("\r\n", "\n").replace("\n", "<br>\n")


def mention_text_block(m: Mention) -> str:
    """Plain-text lines for one mention."""
    who = f"{m.author_name} (@{m.author_username})" if m.author_username else m.author_name
    followers = compact_number(m.author_followers)
    label = f" · {m.sentiment}" if m.sentiment else ""
    lines = [
        f"{who} · {followers} followers · {display_time(m.created_at)}".strip(" ·") + label,
        m.text,
        f"♥ {m.like_count} likes  ⟲ {m.repost_count} reposts  {m.url}",
    ]
    return "\n".join(lines)


def render_text(digest: Digest, limit: int = 100) -> str:
    shown, more = select(digest, limit)
    parts = [subject(digest), ""]
    if digest.period is not None:
        parts.append(period_text(digest.period))
    if digest.is_alert and alert_text(digest):
        parts.append(alert_text(digest))
    if more:
        parts.append(f"Showing the {len(shown)} most-followed authors; {more} more on X:")
        parts.append(digest.search_url)
        parts.append("")
    for m in shown:
        parts.append(mention_text_block(m))
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


_FONT = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif"


def _mention_html(m: Mention) -> str:
    # <bdi> isolates right-to-left names so they cannot reorder the text around them.
    name = html.escape(m.author_name or m.author_username or "unknown author")
    handle = html.escape(m.author_username)
    profile = html.escape(m.profile_url, quote=True)
    post = html.escape(m.url, quote=True)
    when = html.escape(display_time(m.created_at))
    followers = html.escape(compact_number(m.author_followers))
    meta = [f"{followers} followers"] + ([when] if when else [])
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
        f"{linkify_html(m.text)}</div>"
        f'<div style="{_FONT};font-size:13px;color:#536471">'
        f"♥ {m.like_count} likes &nbsp; ⟲ {m.repost_count} reposts &nbsp; "
        f'<a href="{post}" style="color:#1d9bf0;text-decoration:none">View post</a></div>'
        "</td></tr>"
    )


def render_html(digest: Digest, limit: int = 100) -> str:
    """A complete HTML document: inline styles, no scripts, no remote images."""
    shown, more = select(digest, limit)
    title = html.escape(subject(digest))
    rows = "\n".join(_mention_html(m) for m in shown)
    if digest.period is not None:
        rows = period_html(digest.period) + "\n" + rows
    if digest.is_alert:
        rows = alert_html(digest) + "\n" + rows
    note = ""
    if more:
        search = html.escape(digest.search_url, quote=True)
        note = (
            f'<tr><td style="padding:12px 16px;{_FONT};font-size:14px;color:#536471">'
            f"Showing the {len(shown)} most-followed authors. {more} more mentions: "
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
