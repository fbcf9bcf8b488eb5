"""Issue 12.6 beyond post text: what X, Slack or Twilio answer (a buggy or hostile upstream) is
shown in the run's summary and logs, so it reaches a terminal or a log inert too: no C0/C1
control (CSI ``\\x9b``, ESC), no bidi control, no lone surrogate, on stdout and stderr, through
the CLI and the handler."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mention_monitor import handler as handler_mod
from mention_monitor.cli import main
from tests.conftest import basic_config, summary_line
from tests.fakes.http import Reply
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.twilio import FakeTwilio, error
from tests.fakes.xapi import make_posts

#: What a terminal or log viewer acts on: C0/C1 controls (newline aside), DEL, bidi controls,
#: line separators, and lone surrogates (which no UTF-8 writer accepts).
LIVE = (
    {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} - {"\n"}
) | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")
HOSTILE = "evil \x9b31m \u202eabc\u202c \x1b]52;c;ZXZpbA==\x07 \ud83d line\r\nbreak"
#: What X's message reads like in the summary: one line, the controls gone.
SHOWN = "evil 31m abc ]52;c;ZXZpbA== \ufffd line break"


def inert(text: str, where: str) -> None:
    text.encode("utf-8")  # no lone surrogate
    bad = sorted({f"U+{ord(c):04X}" for c in text if c in LIVE})
    assert not bad, f"{where} passes on {bad}"


def run_cli(cfg: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code = main(["run", "--config", str(cfg)])
    out, err = capsys.readouterr()
    inert(out, "stdout")
    inert(err, "stderr")
    for line in err.splitlines():
        json.loads(line)  # still one JSON record per line
    return code, summary_line(out), err


X_ANSWERS = {
    "400": (Reply(400, {"errors": [{"message": HOSTILE}], "title": "Invalid Request"}),
            f"X rejected the request (HTTP 400): {SHOWN} (query 'acme -is:retweet')"),
    "errors-only": (Reply(200, {"errors": [{"message": HOSTILE}], "meta": {"result_count": 0}}),
                    f"X answered with errors only: {SHOWN}"),
    "403": (Reply(403, {"title": "Forbidden", "detail": HOSTILE}),
            f"HTTP 403 from X: Forbidden: {SHOWN}"),
}


@pytest.mark.parametrize("answer", sorted(X_ANSWERS))
def test_xs_words_reach_the_summary_and_the_log_inert(
    tmp_path, fake_x, bearer, capsys, answer
):
    reply, shown = X_ANSWERS[answer]
    fake_x.add_posts(make_posts(2, first_id=700))
    fake_x.then(reply)
    code, summary, err = run_cli(basic_config(tmp_path, fake_x.url), capsys)
    assert code == 1 and summary["watches"]["Acme"]["failed"] == {"search": shown}
    assert shown in err  # the log says it too


def test_partial_errors_beside_posts_are_inert_warnings(tmp_path, fake_x, bearer, capsys):
    page = {"data": [{"id": "700", "text": "acme"}], "errors": [{"message": HOSTILE}]}
    fake_x.then(Reply(200, page))
    code, summary, _ = run_cli(basic_config(tmp_path, fake_x.url), capsys)
    assert code == 0 and summary["watches"]["Acme"]["warnings"] == [
        f"X reported a partial error: {SHOWN}"
    ]


def test_the_handler_raises_and_logs_xs_words_inert(tmp_path, fake_x, bearer, monkeypatch, capsys):
    fake_x.then(X_ANSWERS["400"][0])
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(basic_config(tmp_path, fake_x.url)))
    with pytest.raises(handler_mod.RunFailed) as exc:
        handler_mod.handler({}, FakeLambdaContext())
    inert(str(exc.value), "Lambda's errorMessage")
    assert SHOWN in str(exc.value)
    out, err = capsys.readouterr()
    inert(out, "stdout")
    inert(err, "stderr")


def test_providers_words_are_inert(tmp_path, fake_x, bearer, slack, monkeypatch, capsys):
    """Slack's and Twilio's refusals quote the provider; a control or a lone surrogate in
    them neither reaches the terminal nor stops the summary from being written."""
    twilio = FakeTwilio().start()
    for key, value in twilio.secrets().items():
        monkeypatch.setenv(key, value)
    fake_x.add_posts(make_posts(2, first_id=700))
    slack.then(Reply(400, HOSTILE.replace("\ud83d", "")))
    twilio.then(error(400, 21211, "The 'To' number +15551230001 \ud83d\x9b is not valid"))
    try:
        cfg = basic_config(
            tmp_path,
            fake_x.url,
            notify='["slack", "sms"]',
            notifiers=f"""
                [notifiers.slack]
                type = "slack"
                max_retries = 0
                [notifiers.sms]
                type = "sms-twilio"
                from_number = "+15550009999"
                phone_numbers = ["+15551230001"]
                api_base = "{twilio.url}"
            """,
        )
        code, summary, _ = run_cli(cfg, capsys)
    finally:
        twilio.stop()
    assert code == 1
    assert summary["watches"]["Acme"]["failed"] == {
        "slack": "Slack refused the message: HTTP 400 evil 31m abc ]52;c;ZXZpbA== line break "
        "(message 1 of 1)",
        "sms": "no number received the SMS (+1…0001: Twilio error 21211: The 'To' number "
        "+1…0001 \ufffd is not valid)",
    }


def test_inert_json_is_the_same_json_and_inert_line_one_line():
    from mention_monitor.logs import inert_json, inert_line

    value = {"k": HOSTILE + "\u2028\x7f"}
    line = inert_json(json.dumps(value, ensure_ascii=False))
    inert(line, "inert_json")
    assert json.loads(line) == value
    assert inert_line("a\x1b[2J\n b\x9b\u202e\ud83d") == "a\\x1b[2J b\\x9b\\u202e\\ud83d"


def test_an_unexpected_error_with_controls_is_one_inert_line(tmp_path, fake_x, monkeypatch, capsys):
    """A crash whose message quotes hostile text (here: a notifier plugin's bug) is masked,
    folded and escaped before it reaches the terminal."""
    from mention_monitor import run as run_mod

    def boom(ctx: Any) -> Any:
        raise RuntimeError("bad \x1b]52;c;x\x07 \u202e\ud83d\nnext")

    monkeypatch.setattr(run_mod, "run_once", boom)
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", "AAAA-token-1234")
    assert main(["run", "--config", str(basic_config(tmp_path, fake_x.url))]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "mention-monitor: unexpected error: RuntimeError: bad \\x1b]52;c;x\\x07 "
        "\\u202e\\ud83d next\n"
    )
