"""Fake Twilio Messages API: checks Basic auth and form fields, records accepted messages."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.fakes.http import FakeServer, Received, Reply

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-value"
PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")


def error(status: int, code: int, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "status": status, "more_info": ""})


class FakeTwilio(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, str]] = []
        #: Numbers that opted out (texted STOP): every message to them is 21610.
        self.opted_out: set[str] = set()

    def default(self, req: Received) -> Reply:
        m = PATH.match(req.path)
        if req.method != "POST" or not m:
            return error(404, 20404, "not found")
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if m.group(1) != SID or req.headers.get("authorization") != expected:
            return error(401, 20003, "Authenticate")
        form = req.form()
        if not {"To", "From", "Body"} <= set(form):
            return error(400, 21604, "A 'To' phone number is required.")
        if form["To"] in self.opted_out:
            return error(400, 21610, "Attempt to send to unsubscribed recipient")
        self.sent.append(form)
        return Reply(201, {"sid": f"SM{len(self.sent):032d}", "status": "queued", **form})

    def attempts(self, number: str) -> int:
        """How many messages were tried to ``number`` (accepted or not)."""
        return sum(1 for r in self.received if r.form().get("To") == number)

    def secrets(self) -> dict[str, Any]:
        return {
            "MENTION_MONITOR_SECRET_TWILIO_ACCOUNT_SID": SID,
            "MENTION_MONITOR_SECRET_TWILIO_AUTH_TOKEN": TOKEN,
        }
