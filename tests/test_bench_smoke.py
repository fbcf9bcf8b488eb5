"""The bench's API-efficiency part on tiny sizes, so the bench code cannot rot."""

from __future__ import annotations

from bench.efficiency import run_all, table


def test_api_efficiency_is_at_the_lower_bound():
    rows = run_all(small=True)
    print(table(rows))
    assert len(rows) == 4
    for row in rows:
        assert not row.checks, (row.scenario, row.checks)
        assert row.requests == row.requests_lb, row.scenario
        assert row.posts == row.posts_lb, row.scenario
        assert f"{row.ratio:.2f}" == "1.00"


def test_starvation_figure_searches_every_watch_within_5_runs():
    from bench.scale import starvation, starvation_report

    result = starvation()
    print(starvation_report(result))
    assert result["searched"] == 50 and result["all_after"] <= 5
    assert all(k >= 10 for k in result["per_run"])
