"""A local SMTP server (aiosmtpd) that keeps every message it receives, parsed."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    mail_options: list[str] = field(default_factory=list)

    @property
    def tweet_ids(self) -> list[int]:
        """Tweet IDs linked in the plain-text part (parsed once)."""
        if "_ids" not in self.__dict__:
            text = self.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            self.__dict__["_ids"] = [int(x) for x in re.findall(r"/status/(\d+)", text)]
        ids: list[int] = self.__dict__["_ids"]
        return ids


@dataclass
class FakeSmtp:
    """``with FakeSmtp() as smtp:`` listens on 127.0.0.1; ``credentials`` turns on AUTH.

    Like many real servers it refuses (552) a message over 10,240,000 bytes (``size_limit``).
    ``tls = "starttls"`` offers STARTTLS and takes AUTH only after it (as submission servers on
    587 do); ``tls = "ssl"`` speaks TLS from the first byte (465). Both need ``cert``, a
    certificate issued by a ``trustme.CA`` for 127.0.0.1.
    """

    credentials: tuple[str, str] | None = None
    size_limit: int = 10_240_000
    #: False: the server does not offer 8BITMIME (only 7-bit data may be sent to it).
    eight_bit_mime: bool = True
    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    failed_logins: int = 0
    port: int = 0
    tls: str = "none"
    cert: Any = None
    #: per message received: whether it came over TLS
    over_tls: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self.over_tls.append(server.transport.get_extra_info("ssl_object") is not None)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                msg,
                raw,
                list(envelope.mail_options),
            )
        )
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.credentials is not None:
            user, password = data.login.decode(), data.password.decode()
            if (user, password) == self.credentials:
                self.logins.append(user)
                return AuthResult(success=True)
        self.failed_logins += 1
        return AuthResult(success=False, handled=False)

    @property
    def tweet_ids(self) -> list[int]:
        """Tweet IDs linked in every plain-text part received, in order, with repeats."""
        return [i for m in self.messages for i in m.tweet_ids]

    def __enter__(self) -> FakeSmtp:
        kwargs: dict[str, Any] = {
            "data_size_limit": self.size_limit,
            "decode_data": not self.eight_bit_mime,  # aiosmtpd offers 8BITMIME unless it decodes
        }
        if self.tls != "none":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.cert.configure_cert(context)
            key = "tls_context" if self.tls == "starttls" else "ssl_context"
            kwargs[key] = context
        if self.credentials is not None:
            # AUTH only over STARTTLS when offered; implicit TLS is TLS from the start
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.tls == "starttls")
        with socket.socket() as probe:  # aiosmtpd cannot listen on port 0
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()
