"""SMS: segment budgets, composition, SNS through moto and Twilio against a local fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mention_monitor.config import load_settings
from mention_monitor.errors import ConfigError
from mention_monitor.models import Digest
from mention_monitor.notifiers.sms import (
    SegmentInfo,
    SnsSmsNotifier,
    SnsSmsOptions,
    TwilioSmsNotifier,
    TwilioSmsOptions,
    compose_sms,
    segments,
)
from mention_monitor.secrets import EnvSecrets
from mention_monitor.services import Services
from tests.conftest import FakeClock, toml_config
from tests.fakes.http import Reply
from tests.fakes.twilio import TOKEN, FakeTwilio, error
from tests.samples import EMOJI, HOSTILE, LONG, RTL, hostile_digest, many, mention

A, B, C = "+15551230001", "+15551230002", "+447700900123"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, ("GSM-7", 160, 1)),
        ("a" * 161, ("GSM-7", 161, 2)),
        ("a" * 306, ("GSM-7", 306, 2)),
        ("a" * 307, ("GSM-7", 307, 3)),
        ("{" * 80, ("GSM-7", 160, 1)),  # extension characters count double
        ("€" * 81, ("GSM-7", 162, 2)),
        ("a" * 152 + "[", ("GSM-7", 154, 1)),
        ("a" * 152 + "[" + "a" * 10, ("GSM-7", 164, 2)),  # the escape pair moves whole
        ("é" * 160, ("GSM-7", 160, 1)),  # é is in the basic set
        ("a" * 69 + "ç", ("UCS-2", 70, 1)),  # ç is not (only Ç is)
        ("a" * 68 + "🚀", ("UCS-2", 70, 1)),  # an emoji is two UTF-16 units
        ("a" * 69 + "🚀", ("UCS-2", 71, 2)),
        ("a" * 66 + "🚀" + "a" * 10, ("UCS-2", 78, 2)),  # a surrogate pair is never split
        ("ش" * 134, ("UCS-2", 134, 2)),
        ("ش" * 135, ("UCS-2", 135, 3)),
    ],
)
def test_segment_budget(text, expected):
    info = segments(text)
    assert (info.encoding, info.units, info.segments) == expected


def test_composition_carries_count_watch_top_author_and_link():
    text = compose_sms(many(120))
    assert text == (
        '120 new mentions of Acme. Top: User 119 (@user119, 12K followers): "I love acme" '
        "x.com/i/status/1119"
    )
    assert segments(text).segments == 1


@pytest.mark.parametrize("body", [HOSTILE, EMOJI, RTL, LONG, "🚀" * 300, "{}[]~^|\\€" * 50])
@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_every_text_fits_its_budget(body, max_segments):
    digest = Digest("Acme", (mention(1), mention(7, body, author_name="Ñame 🚀 محمد")))
    text = compose_sms(digest, max_segments)
    info = segments(text)
    assert 1 <= info.segments <= max_segments
    assert text.startswith("2 new mentions of Acme.") and text.endswith("x.com/i/status/1007")
    assert "@user7" in text


def test_emoji_dropped_to_keep_gsm7_when_that_keeps_more_of_the_post():
    text = compose_sms(
        Digest("Acme", (mention(1, "Acme 🚀🔥 is great 👍🏽 really a very good product"),))
    )
    info = segments(text)
    assert info.encoding == "GSM-7" and info.segments == 1
    assert '"Acme is great really a very good product"' in text


def test_rtl_post_needs_ucs2_and_fits_two_segments_but_not_one():
    # One segment: 70 UCS-2 units cannot hold the header and 12+ characters of the Arabic post,
    # so the text falls back to the GSM-7 summary without the post.
    text = compose_sms(Digest("Acme", (mention(1, RTL, author_name="محمد"),)))
    assert text == "1 new mention of Acme. Top: @user1 (200 followers) x.com/i/status/1001"
    assert segments(text) == SegmentInfo("GSM-7", 70, 1)
    # Two segments: the whole post, in UCS-2.
    text2 = compose_sms(Digest("Acme", (mention(1, RTL, author_name="محمد"),)), 2)
    assert RTL in text2 and segments(text2).encoding == "UCS-2" and segments(text2).segments == 2


@pytest.mark.parametrize(
    ("numbers", "field"),
    [
        ('["5551234567"]', "notifiers.sms.phone_numbers"),
        ('["+1 555 123 4567"]', "notifiers.sms.phone_numbers"),
        ('["+0551234567"]', "notifiers.sms.phone_numbers"),
        ("[]", "notifiers.sms.phone_numbers"),
    ],
)
def test_phone_numbers_validated_at_config_time(tmp_path, numbers, field):
    cfg = toml_config(
        tmp_path,
        f"""
        [[watches]]
        name = "Acme"
        terms = ["acme"]
        notify = ["sms"]

        [notifiers.sms]
        type = "sms-sns"
        phone_numbers = {numbers}
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert field in str(err.value) and "5551234567" not in str(err.value)


def test_cli_exits_2_on_a_bad_number(tmp_path, capsys):
    from mention_monitor.cli import main

    cfg = toml_config(
        tmp_path,
        """
        [[watches]]
        name = "Acme"
        terms = ["acme"]
        notify = ["sms"]

        [notifiers.sms]
        type = "sms-twilio"
        from_number = "+15550000000"
        phone_numbers = ["12345"]
        """,
    )
    assert main(["check", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "notifiers.sms.phone_numbers" in err


# -- SNS (moto) ------------------------------------------------------------------------------
def sns_sent() -> list[tuple[str, str]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def sns(numbers: list[str], client: Any = None, **kw: Any) -> SnsSmsNotifier:
    opts = SnsSmsOptions(type="sms-sns", phone_numbers=numbers, **kw)
    services = Services(clock=FakeClock())
    if client is not None:
        services = Services(clock=FakeClock(), aws_client=lambda name, **kw: client)
    return SnsSmsNotifier("sms", opts, EnvSecrets({}), services)


def test_sns_one_text_per_number(moto_aws):
    result = sns([A, B], sender_id="Acme").send(hostile_digest())
    assert result.ok and result.delivered == 4 and result.delivered_through == 1003
    sent = sns_sent()
    assert [n for n, _ in sent] == [A, B]
    assert sent[0][1] == sent[1][1] == compose_sms(hostile_digest())
    assert result.details["segments"] == 1


def test_sns_exact_call_attributes():
    calls: list[dict[str, Any]] = []

    class Stub:
        def publish(self, **kw: Any) -> dict[str, str]:
            calls.append(kw)
            return {"MessageId": "m"}

    assert sns([A], Stub(), sender_id="Acme").send(many(2)).ok
    assert calls == [
        {
            "PhoneNumber": A,
            "Message": compose_sms(many(2)),
            "MessageAttributes": {
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "Acme"},
            },
        }
    ]


def test_sns_partial_failure_counts_as_delivered_and_reports_the_number():
    from botocore.exceptions import ClientError

    class Stub:
        def publish(self, **kw: Any) -> dict[str, str]:
            if kw["PhoneNumber"] == B:
                raise ClientError(
                    {"Error": {"Code": "InvalidParameter", "Message": "x"}}, "Publish"
                )
            return {"MessageId": "m"}

    result = sns([A, B], Stub()).send(many(2))
    assert result.delivered == 2 and result.delivered_through == 1001
    assert result.error is not None and "1 of 2" in result.error and "+1…0002" in result.error
    assert B not in result.error  # numbers are masked in reports
    assert result.details["failed"] == {"+1…0002": "SNS refused: InvalidParameter"}


# -- Twilio (local fake) -----------------------------------------------------------------------
@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    server = FakeTwilio().start()
    yield server
    server.stop()


def tw(server: FakeTwilio, numbers: list[str], clock: FakeClock | None = None) -> TwilioSmsNotifier:
    opts = TwilioSmsOptions(
        type="sms-twilio",
        from_number="+15550009999",
        phone_numbers=numbers,
        api_base=server.url,
        backoff_seconds=0,
    )
    return TwilioSmsNotifier(
        "sms", opts, EnvSecrets(server.secrets()), Services(clock=clock or FakeClock())
    )


def test_twilio_sends_exact_form(twilio):
    result = tw(twilio, [A, C]).send(many(3))
    assert result.ok and result.delivered == 3
    text = compose_sms(many(3))
    assert twilio.sent == [
        {"To": A, "From": "+15550009999", "Body": text},
        {"To": C, "From": "+15550009999", "Body": text},
    ]


def test_twilio_429_is_retried_after_retry_after(twilio):
    clock = FakeClock()
    twilio.then(Reply(429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "3"}))
    result = tw(twilio, [A], clock).send(many(1))
    assert result.ok and len(twilio.sent) == 1 and clock.sleeps == [3.0]


def test_twilio_opted_out_is_not_retried_and_others_still_get_it(twilio):
    twilio.then(error(400, 21610, "Attempt to send to unsubscribed recipient"))
    result = tw(twilio, [A, B]).send(many(2))
    assert [f["To"] for f in twilio.sent] == [B]
    assert len(twilio.received) == 2  # A once (no retry), B once
    assert result.delivered == 2 and "opted out (Twilio 21610)" in (result.error or "")


def test_twilio_all_numbers_failing_delivers_nothing_and_hides_the_token(twilio):
    twilio.then(error(400, 21211, "Invalid 'To' Phone Number"), error(400, 21211, "Invalid"))
    result = tw(twilio, [A, B]).send(many(2))
    assert not result.ok and result.delivered_through is None
    assert "21211" in (result.error or "") and TOKEN not in (result.error or "")


def test_twilio_5xx_bounded_retries(twilio):
    twilio.then(*[Reply(503, "")] * 4)
    result = tw(twilio, [A]).send(many(1))
    assert not result.ok and "after 4 attempts" in (result.error or "")
    assert len(twilio.received) == 4 and twilio.sent == []


def test_twilio_wrong_token_is_401_without_secret(twilio):
    env = {**twilio.secrets(), "MENTION_MONITOR_SECRET_TWILIO_AUTH_TOKEN": "wrong-token-999"}
    opts = TwilioSmsOptions(
        type="sms-twilio", from_number="+15550009999", phone_numbers=[A], api_base=twilio.url
    )
    result = TwilioSmsNotifier("sms", opts, EnvSecrets(env), Services(clock=FakeClock())).send(many(1))
    assert not result.ok and "authentication failed" in (result.error or "")
    assert "wrong-token-999" not in (result.error or "")


# -- opt-outs and what Twilio's messages reveal (issue 9, item 8) -------------------------------
def test_twilio_opt_out_is_reported_once_and_never_sent_again(twilio):
    twilio.opted_out = {A}
    n = tw(twilio, [A, B])
    first = n.send(many(2))
    assert first.delivered == 2 and first.delivered_through == 1001
    assert first.error == (
        "SMS sent to 1 of 2 numbers; +1…0001: recipient opted out (Twilio 21610); "
        "it is not sent digests any more"
    )
    assert first.details["opted_out"] == ["+1…0001"] and first.details["sent"] == ["+1…0002"]
    second = n.send(many(2, first=2))
    assert second.ok and second.delivered == 2 and second.details["opted_out"] == ["+1…0001"]
    assert twilio.attempts(A) == 1 and twilio.attempts(B) == 2
    assert [k for k in n.memory.items()] == [f"opted-out:{A}"]


def test_twilio_digest_nobody_can_receive_is_consumed_not_retried_forever(twilio):
    twilio.opted_out = {A}
    n = tw(twilio, [A])
    first = n.send(many(3))
    # Reported once, and the cursor may move over the digest: nobody can receive it.
    assert (first.delivered, first.delivered_through) == (0, 1002)
    assert "+1…0001: recipient opted out (Twilio 21610)" in (first.error or "")
    second = n.send(many(3, first=3))
    assert second.ok and (second.delivered, second.delivered_through) == (0, 1005)
    assert second.details == {"sent": [], "segments": 1, "opted_out": ["+1…0001"]}
    assert twilio.attempts(A) == 1


def test_twilio_opt_out_learnt_by_another_run_is_not_reported_twice(twilio):
    twilio.opted_out = {A}
    services = Services(clock=FakeClock())
    services.memory("sms").add(f"opted-out:{A}", "{}")  # an overlapping run learnt it first
    opts = TwilioSmsOptions(type="sms-twilio", from_number="+15550009999", phone_numbers=[A, B],
                            api_base=twilio.url, backoff_seconds=0)
    result = TwilioSmsNotifier("sms", opts, EnvSecrets(twilio.secrets()), services).send(many(1))
    assert result.ok and twilio.attempts(A) == 0 and result.details["opted_out"] == ["+1…0001"]


def test_twilio_transient_failure_is_retried_next_run_but_the_opt_out_is_kept(twilio):
    twilio.opted_out = {A}
    twilio.then(lambda req: twilio.default(req), *[Reply(503, "")] * 4)  # A: 21610, B: 503 x4
    n = tw(twilio, [A, B])
    first = n.send(many(1))
    assert not first.ok and first.delivered_through is None  # B may still get it next run
    assert "+1…0001: recipient opted out" in (first.error or "")
    assert "+1…0002: HTTP 503 from Twilio after 4 attempts" in (first.error or "")
    second = n.send(many(1))
    assert second.ok and twilio.attempts(A) == 1 and [f["To"] for f in twilio.sent] == [B]


@pytest.mark.parametrize(
    ("code", "message", "shown"),
    [
        (21211, "The 'To' number +15551230002 is not a valid phone number.",
         "Twilio error 21211: The 'To' number +1…0002 is not a valid phone number."),
        (21408, "Permission to send an SMS has not been enabled for the region indicated by "
         "the 'To' number: +447700900123.",
         "Twilio error 21408: Permission to send an SMS has not been enabled for the region "
         "indicated by the 'To' number: +4…0123."),
        (21614, "'To' number (555) 123-4567 is not a valid mobile number",
         "Twilio error 21614: 'To' number (55…4567 is not a valid mobile number"),
    ],
)
def test_twilio_error_messages_show_numbers_masked(twilio, code, message, shown):
    twilio.then(error(400, code, message))
    result = tw(twilio, [B]).send(many(1))
    assert result.error == f"no number received the SMS (+1…0002: {shown})"
    for raw in ("5551230002", "447700900123", "123-4567"):
        assert raw not in (result.error or "")
