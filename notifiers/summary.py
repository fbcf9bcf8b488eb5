"""Period summaries and spike alerts for every medium: text, inert HTML, Slack Block Kit fields."""

from __future__ import annotations

import html
from typing import Any

from mention_monitor.notifiers import Digest, Mention, PeriodSummary
from mention_monitor.notifiers.text import plural

BLOCKS = "▁▂▃▄▅▆▇█"
LABEL_COLOURS = {"negative": "#b42318", "neutral": "#536471", "positive": "#067647"}
_FONT = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif"


def compact_number(value: int) -> str:
    """12345 -> ``12.3K``; 2500000 -> ``2.5M``."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if value >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return str(value)


def per_unit(period: PeriodSummary) -> str:
    return {"day": "per day", "hour": "per hour"}.get(period.unit, "per 10 minutes")


def bar_line(counts: list[int]) -> str:
    """One block character per bucket: ``▁`` for none, then up to ``█`` for the peak."""
    top = max(counts, default=0)
    if top <= 0:
        return BLOCKS[0] * len(counts)
    return "".join(
        BLOCKS[0] if n <= 0 else BLOCKS[max(1, -(-n * (len(BLOCKS) - 1) // top))] for n in counts
    )


def one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def who(m: Mention) -> str:
    return f"@{m.author_username}" if m.author_username else (m.author_name or "unknown author")


def sentiment_line(period: PeriodSummary) -> str:
    """``20% negative · 50% neutral · 30% positive (2 not scored)``; ``""`` without scores."""
    if not period.sentiment:
        return ""
    parts = [f"{period.share(lab)}% {lab}" for lab in ("negative", "neutral", "positive")]
    unknown = dict(period.sentiment).get("unknown", 0)
    note = f" ({unknown} not scored: not English)" if unknown else ""
    return " · ".join(parts) + note


def author_line(period: PeriodSummary) -> str:
    return "; ".join(
        f"{a.name or a.username} (@{a.username}, "
        f"{plural(a.followers, 'follower', compact_number(a.followers))}, "
        f"{plural(a.mentions, 'mention')})"
        for a in period.top_authors
    )


def post_lines(period: PeriodSummary) -> list[str]:
    return [
        f"{who(m)}: {plural(m.like_count, 'like')}, {plural(m.repost_count, 'repost')}: "
        f'"{one_line(m.text)}" {m.url}'
        for m in period.top_posts
    ]


# -- plain text --------------------------------------------------------------------------------
def period_text(period: PeriodSummary) -> str:
    counts = [n for _, n in period.buckets]
    first, last = period.buckets[0][0], period.buckets[-1][0]
    peak_label, peak = period.peak
    lines = [
        f"Summary {period.start} to {period.end}: {plural(period.total, 'mention')}",
        f"Mentions {per_unit(period)} (peak {peak} at {peak_label}):",
        f"{first} {bar_line(counts)} {last}",
    ]
    if period.top_authors:
        lines.append(f"Most-followed authors: {author_line(period)}")
    if period.top_posts:
        lines.append("Most liked and reposted:")
        lines.extend(f"  {line}" for line in post_lines(period))
    if period.sentiment:
        lines.append(f"Sentiment: {sentiment_line(period)}")
    return "\n".join(lines) + "\n"


def alert_text(digest: Digest) -> str:
    """The lines under a spike alert's headline."""
    spike = digest.spike
    lines = []
    if spike is not None and spike.negative_share is not None:
        lines.append(f"Negative: {spike.negative_share}% of the scored mentions")
    if digest.mentions:
        lines.append("Most engaged:")
    return "\n".join(lines)


# -- HTML --------------------------------------------------------------------------------------
def _bar_row(label: str, count: int, top: int) -> str:
    pct = max(1, round(100 * count / top)) if count > 0 and top > 0 else 0
    bar = (
        f'<table role="presentation" width="{pct}%" cellpadding="0" cellspacing="0" '
        f'style="width:{pct}%;border-collapse:collapse"><tr>'
        f'<td height="12" bgcolor="#1d9bf0" style="width:100%;height:12px;background:#1d9bf0;'
        f'font-size:1px;line-height:12px">&nbsp;</td></tr></table>'
        if pct
        else "&nbsp;"
    )
    small = f"{_FONT};font-size:12px;line-height:14px;color:#536471"
    return (
        f'<tr><td width="64" style="width:64px;{small};padding:1px 8px 1px 0;white-space:nowrap">'
        f"{html.escape(label)}</td>"
        f'<td height="14" style="height:14px;padding:1px 0;font-size:1px;line-height:1px">'
        f"{bar}</td>"
        f'<td width="40" align="right" style="width:40px;{small};padding:1px 0 1px 8px">'
        f"{count}</td></tr>"
    )


def period_html(period: PeriodSummary) -> str:
    """Table rows for the digest's outer table: the numbers, a bar chart of table cells with
    inline widths (no images, no scripts, no CSS classes), top authors and posts, sentiment."""
    counts = [n for _, n in period.buckets]
    top = max(counts, default=0)
    text = f"{_FONT};font-size:14px;color:#0f1419"
    head = f"{_FONT};font-size:13px;font-weight:bold;color:#0f1419;padding-top:10px"
    rows = "".join(_bar_row(label, n, top) for label, n in period.buckets)
    parts = [
        f'<div style="{text}">'
        f"{plural(period.total, 'mention', f'<strong>{period.total}</strong>')}, "
        f"{html.escape(period.start)} to {html.escape(period.end)}</div>",
        f'<div style="{head}">Mentions {per_unit(period)}</div>',
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="width:100%;border-collapse:collapse;margin-top:4px">{rows}</table>',
    ]
    if period.top_authors:
        items = "".join(
            f'<div style="{text}"><bdi>{html.escape(a.name or a.username)}</bdi> '
            f"@{html.escape(a.username)} · "
            f"{html.escape(plural(a.followers, 'follower', compact_number(a.followers)))} · "
            f"{plural(a.mentions, 'mention')}</div>"
            for a in period.top_authors
        )
        parts.append(f'<div style="{head}">Most-followed authors</div>{items}')
    if period.top_posts:
        items = "".join(
            f'<div style="{text}"><bdi>{html.escape(who(m))}</bdi> · ♥ {m.like_count} · '
            f"⟲ {m.repost_count} · <bdi>{html.escape(one_line(m.text))}</bdi> "
            f'<a href="{html.escape(m.url, quote=True)}" style="color:#1d9bf0;'
            f'text-decoration:none">View post</a></div>'
            for m in period.top_posts
        )
        parts.append(f'<div style="{head}">Most liked and reposted</div>{items}')
    if period.sentiment:
        parts.append(
            f'<div style="{head}">Sentiment</div>'
            f'<div style="{text}">{html.escape(sentiment_line(period))}</div>'
        )
    return (
        '<tr><td style="padding:12px 16px;border-bottom:1px solid #eff3f4">'
        + "".join(parts)
        + "</td></tr>"
    )


def label_html(m: Mention) -> str:
    if not m.sentiment:
        return ""
    colour = LABEL_COLOURS.get(m.sentiment, "#536471")
    return f' <span style="color:{colour}">· {html.escape(m.sentiment)}</span>'


def alert_html(digest: Digest) -> str:
    text = alert_text(digest)
    if not text:
        return ""
    body = "<br>\n".join(html.escape(line) for line in text.splitlines())
    return (
        f'<tr><td style="padding:12px 16px;{_FONT};font-size:14px;color:#0f1419;'
        f'border-bottom:1px solid #eff3f4">{body}</td></tr>'
    )


# -- Slack -------------------------------------------------------------------------------------
def slack_period_blocks(period: PeriodSummary, escape: Any) -> list[dict[str, Any]]:
    """The same numbers as Block Kit: a section of fields and the bar line."""
    peak_label, peak = period.peak
    fields = [
        f"*Mentions*\n{period.total}",
        f"*Peak {per_unit(period).replace('per ', '')}*\n{escape(peak_label)}: {peak}",
    ]
    if period.sentiment:
        fields.append(f"*Sentiment*\n{escape(sentiment_line(period))}")
    if period.top_authors:
        fields.append(
            "*Most-followed authors*\n"
            + "\n".join(
                f"{escape(one_line(a.name or a.username, 40))} (@{escape(a.username)}, "
                f"{compact_number(a.followers)})"
                for a in period.top_authors
            )
        )
    if period.top_posts:
        fields.append(
            "*Most liked and reposted*\n"
            + "\n".join(
                f"<{m.url}|{escape(who(m))}>: ♥ {m.like_count} ⟲ {m.repost_count}"
                for m in period.top_posts
            )
        )
    counts = [n for _, n in period.buckets]
    chart = (
        f"*Mentions {per_unit(period)}*, {escape(period.start)} to {escape(period.end)}\n"
        f"`{escape(period.buckets[0][0])} {bar_line(counts)} {escape(period.buckets[-1][0])}`"
    )
    return [
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in fields],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": chart[:3000]}},
    ]
