"""The promise, as checks: exactly-once delivery, forward-only cursors, each post read once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mention_monitor.state import StateStore


@dataclass
class Ledger:
    """What the world saw across runs, compared with what X holds."""

    cursors: dict[str, int] = field(default_factory=dict)

    def check_cursors_forward(self, store: StateStore, watch: str) -> None:
        st = store.load(watch)
        now: dict[str, int] = {f"D#{n}": c for n, c in st.deliveries.items()}
        now.update({f"Q#{k}": q.cursor for k, q in st.queries.items() if q.cursor is not None})
        if st.mark is not None:
            now["MARK"] = st.mark
        for key, value in now.items():
            before = self.cursors.get(key)
            assert before is None or value >= before, f"cursor {key} moved back"
            self.cursors[key] = value


def assert_exactly_once(delivered: list[int], expected: set[int], who: str) -> None:
    counts = Counter(delivered)
    dupes = sorted(i for i, c in counts.items() if c > 1)
    assert not dupes, f"{who} got duplicates: {dupes[:10]}"
    missing = sorted(expected - set(counts))
    assert not missing, f"{who} missed: {missing[:10]}"
    extra = sorted(set(counts) - expected)
    assert not extra, f"{who} got unexpected: {extra[:10]}"


def assert_read_once(served: list[int] | list[tuple[str, int]]) -> None:
    """No post read twice (pass (query, id) pairs when queries overlap by design)."""
    counts = Counter(served)
    dupes = sorted(i for i, c in counts.items() if c > 1)
    assert not dupes, f"X was asked for these posts more than once: {dupes[:10]}"
