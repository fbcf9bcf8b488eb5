"""Build X search queries from a watch, packed into as few as fit the length limit."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from mention_monitor.config import Settings, Watch
from mention_monitor.errors import ConfigError

_BARE_OPERATOR_PREFIXES = ("#", "$", "@", "from:", "to:", "url:", "conversation_id:")


def quote_term(term: str) -> str:
    """A term as X expects it: phrases and anything with spaces or quotes in double quotes."""
    term = term.strip()
    if term.startswith('"') and term.endswith('"') and len(term) > 1:
        return term
    if any(ch.isspace() for ch in term) or any(ch in term for ch in '()"'):
        return '"' + term.replace('"', "") + '"'
    return term


def _suffix(watch: Watch) -> str:
    parts: list[str] = []
    if len(watch.languages) == 1:
        parts.append(f"lang:{watch.languages[0]}")
    elif watch.languages:
        parts.append("(" + " OR ".join(f"lang:{lang}" for lang in watch.languages) + ")")
    if not watch.include_retweets:
        parts.append("-is:retweet")
    parts.extend(f"-{quote_term(t)}" for t in watch.exclude_terms)
    parts.extend(f"-from:{a}" for a in watch.exclude_authors)
    return " ".join(parts)


def _compose(terms: list[str], suffix: str) -> str:
    group = terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"
    return f"{group} {suffix}".strip()


def build_queries(watch: Watch, max_length: int, index: int | None = None) -> list[str]:
    """Terms OR-joined, qualified by the watch's exclusions, split into the fewest queries.

    Packing is first-fit decreasing, which for these sizes gives the minimum in practice; the
    terms keep their configured order inside each query.
    """
    where = f"watches.{index}.terms" if index is not None else f"watch {watch.name!r} terms"
    suffix = _suffix(watch)
    quoted: list[str] = []
    for term in watch.terms:
        q = quote_term(term)
        if q.lower() not in {t.lower() for t in quoted}:
            quoted.append(q)
    for q in quoted:
        if len(_compose([q], suffix)) > max_length:
            raise ConfigError(
                f"config: {where}: term {q[:40]!r} with the watch's exclusions is longer than "
                f"x.max_query_length ({max_length})"
            )
    if len(_compose(quoted, suffix)) <= max_length:
        return [_compose(quoted, suffix)]
    order = {t: i for i, t in enumerate(quoted)}
    bins: list[list[str]] = []
    for term in sorted(quoted, key=len, reverse=True):
        for group in bins:
            if len(_compose([*group, term], suffix)) <= max_length:
                group.append(term)
                break
        else:
            bins.append([term])
    return [_compose(sorted(g, key=order.__getitem__), suffix) for g in bins]


def plan_queries(settings: Settings) -> dict[str, list[str]]:
    """Each watch's queries (raises ConfigError if a term cannot fit)."""
    return {
        w.name: build_queries(w, settings.x.max_query_length, i)
        for i, w in enumerate(settings.watches)
    }


def query_key(query: str) -> str:
    """A short stable key for a query's search cursor."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()[:16]


def search_url(query: str) -> str:
    """The same search on x.com, for 'see all' links."""
    return f"https://x.com/search?q={quote(query, safe='')}&f=live"
