"""The README a newcomer can act on: short, the two commands first, then the path to real use,
deployment, the configuration reference and the notifiers, in that order; its links resolve.
(tests/test_handler.py runs its first command twice; the suite is its second.)"""

from __future__ import annotations

import re

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
ORDER = ["Five minutes to real mentions", "Deploy", "Configuration", "Notifiers"]


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_under_300_lines():
    assert README.count("\n") < 300


def test_the_two_commands_open_it():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None and first_block.start() < 200
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == [
        "python3 -m pip install -e . && mention-monitor run --config examples/local.toml",
        "python3 -m pip install -e '.[test]' && python3 -m pytest -q",
    ]


def test_sections_in_the_newcomers_order():
    titles = re.findall(r"^## (.+)$", README, re.M)
    assert [t for t in titles if t in ORDER] == ORDER
    assert titles[: len(ORDER)] == ORDER  # nothing about internals comes before them


def test_the_five_minute_path_reaches_the_real_api_on_a_timer():
    five = _section("Five minutes to real mentions")
    assert "Bearer Token" in five and "MENTION_MONITOR_SECRET_X_BEARER_TOKEN" in five
    (config,) = re.findall(r"```toml\n(.*?)```", five, re.S)
    assert "replay" not in config and "[[watches]]" in config
    assert re.search(r"^\*/15 \* \* \* \* .*mention-monitor run", five, re.M)  # cron
    assert "OnCalendar=" in five  # or a systemd timer


def test_schedules_spikes_and_sentiment_are_in_the_reference_with_their_page():
    for key in ("schedule", "timezone", "send_empty", "[watches.spike]", "[sentiment]",
                "sentiment"):
        assert key in README, key
    assert "(docs/schedules.md)" in README


def test_relative_links_resolve():
    for target in re.findall(r"\]\(([^)\s]+)\)", README):
        if target.startswith(("http://", "https://", "#")):
            continue
        path, _, anchor = target.partition("#")
        file = REPO / path
        assert file.exists(), target
        if anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}
            assert anchor in slugs, target
