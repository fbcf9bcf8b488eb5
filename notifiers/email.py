"""``email-ses`` and ``email-smtp``: one multipart HTML + text digest per watch per run."""

from __future__ import annotations

import re
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from mention_monitor.notifiers import (
    DeliveryError,
    DeliveryResult,
    Digest,
    Notifier,
    NotifierOptions,
    Preview,
    aws_errors,
    clean_digest,
)
from mention_monitor.notifiers.render import POST_TEXT_CHARS, render_html, render_text, subject
from mention_monitor.notifiers.text import clean_line

#: RFC 5322 with CRLF line endings, and every body part 7-bit clean: text that is not short
#: ASCII lines goes quoted-printable or base64, never raw 8-bit to a server that did not offer
#: 8BITMIME.
MIME_POLICY = email_policy.SMTP.clone(cte_type="7bit")
#: Digests show at most this many mentions (the size limit below usually binds first).
MAX_MENTIONS = 1000

# Deliberately simple: one @, no whitespace, no control characters, no angle brackets.
_ADDRESS = re.compile(
    r"^[^@\s<>\"(),;:\x00-\x1f]+@[^@\s<>\"(),;:\x00-\x1f]+\.[^@\s<>\"(),;:\x00-\x1f]+$"
)


def _check_address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.match(value):
        raise ValueError("must be a plain email address such as alerts@example.com")
    return value


class EmailOptions(NotifierOptions):
    """Options both email notifiers take."""

    sender: str
    recipients: list[str] = Field(min_length=1, max_length=50)
    max_mentions: int = Field(100, ge=1, le=MAX_MENTIONS)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [_check_address(v) for v in value]


class SesEmailOptions(EmailOptions):
    """``email-ses``: region and endpoint come from the environment like any boto3 client."""

    configuration_set: str | None = None

    def max_send_seconds(self) -> float:
        # The SES client: 5 s to connect and 20 s to read, three attempts, short backoff.
        return 80.0


class SmtpEmailOptions(EmailOptions):
    """``email-smtp``: login only when both secret keys are set."""

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username_secret: str | None = None
    password_secret: str | None = None
    timeout_seconds: float = Field(30.0, gt=0, le=300)
    #: Log in over a connection without TLS (``security = "none"``): the password crosses
    #: the network in clear, so it takes this explicit opt-in.
    allow_insecure_login: bool = False

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpEmailOptions:
        if bool(self.username_secret) != bool(self.password_secret):
            raise ValueError("username_secret and password_secret must be set together")
        if self.username_secret and self.security == "none" and not self.allow_insecure_login:
            raise ValueError(
                'login over security = "none" sends the password in clear: use "starttls" or '
                '"ssl", or set allow_insecure_login = true'
            )
        return self

    def max_send_seconds(self) -> float:
        # Each SMTP step waits up to timeout_seconds: connect and TLS, login and envelope, data.
        return 3 * self.timeout_seconds

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"starttls": 587, "ssl": 465, "none": 25}[self.security]


E = TypeVar("E", bound=EmailOptions)


class _EmailNotifier(Notifier[E]):
    """Builds the message once; subclasses only hand it over."""

    #: Below the 10,240,000 bytes many mail servers accept (552 above it), with room for the
    #: headers relays add. A digest that would be larger shows fewer mentions (the
    #: most-followed authors) and says how many more there are.
    max_message_bytes: ClassVar[int] = 10_000_000
    #: Each post's text is cut here, like Slack's; the link to the whole post follows it.
    max_post_chars: ClassVar[int] = POST_TEXT_CHARS

    def _message(self, digest: Digest, limit: int) -> EmailMessage:
        opts = self.options
        msg = EmailMessage(policy=MIME_POLICY)
        msg["Subject"] = subject(digest)
        msg["From"] = Address(addr_spec=opts.sender)
        msg["To"] = ", ".join(opts.recipients)
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=opts.sender.rpartition("@")[2])
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(render_text(digest, limit, self.max_post_chars))
        msg.add_alternative(render_html(digest, limit, self.max_post_chars), subtype="html")
        return msg

    def build_message(self, digest: Digest) -> EmailMessage:
        """``multipart/alternative``: the text part first, the HTML part preferred; CRLF line
        endings, 7-bit transfer encodings, at most ``max_message_bytes`` in all."""
        digest = clean_digest(digest)
        limit = min(self.options.max_mentions, digest.count)
        while True:
            msg = self._message(digest, limit)
            size = len(msg.as_bytes())
            if size <= self.max_message_bytes or limit == 1:
                return msg
            # Mentions differ in size: shrink in proportion, with a margin, and measure again.
            limit = max(1, min(limit - 1, int(limit * self.max_message_bytes / size * 0.95)))

    def preview(self, digest: Digest) -> Preview:
        html_part = self.build_message(digest).get_body(("html",))
        content = html_part.get_content() if isinstance(html_part, EmailMessage) else ""
        return Preview(
            content,
            "text/html",
            f"subject: {subject(digest)}; to {len(self.options.recipients)} recipient(s)",
        )


class SesEmailNotifier(_EmailNotifier[SesEmailOptions]):
    """Amazon SES v2 ``send_email`` with the MIME message as ``Content.Raw``."""

    type_name = "email-ses"
    uses_aws = True
    _ses: Any = None

    def _client(self) -> Any:
        if self._ses is None:
            self._ses = self.services.aws_client("sesv2", read_timeout=20)
        return self._ses

    def _deliver(self, digest: Digest) -> DeliveryResult:
        opts = self.options
        msg = self.build_message(digest)
        kwargs: dict[str, Any] = {
            "FromEmailAddress": opts.sender,
            "Destination": {"ToAddresses": list(opts.recipients)},
            "Content": {"Raw": {"Data": msg.as_bytes()}},
        }
        if opts.configuration_set:
            kwargs["ConfigurationSetName"] = opts.configuration_set
        with aws_errors(
            DeliveryError, "SES refused the digest", "cannot reach SES", with_message=True
        ):
            resp = self._client().send_email(**kwargs)
        result = self.accepted(digest.mentions)
        result.details = {"message_id": resp.get("MessageId", "")}
        return result


class SmtpEmailNotifier(_EmailNotifier[SmtpEmailOptions]):
    """SMTP with STARTTLS, implicit TLS or (for local relays and tests) no TLS."""

    type_name = "email-smtp"

    def _deliver(self, digest: Digest) -> DeliveryResult:
        import smtplib
        import ssl

        opts = self.options
        msg = self.build_message(digest)
        login: tuple[str, str] | None = None
        if opts.username_secret and opts.password_secret:
            login = (self.secrets.get(opts.username_secret), self.secrets.get(opts.password_secret))
        where = f"{opts.host}:{opts.effective_port}"
        try:
            smtp: smtplib.SMTP
            if opts.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    opts.host,
                    opts.effective_port,
                    timeout=opts.timeout_seconds,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(opts.host, opts.effective_port, timeout=opts.timeout_seconds)
            with smtp:
                if opts.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if login is not None:
                    smtp.login(*login)
                refused = smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login to {where} failed: {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({str(code) for code, _ in exc.recipients.values()})
            raise DeliveryError(
                f"SMTP server {where} refused every recipient ({', '.join(codes)})"
            ) from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise DeliveryError(
                f"SMTP server {where} answered {exc.smtp_code}: {clean_line(text, 200)}"
            ) from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP to {where} failed: {type(exc).__name__}") from None
        except ssl.SSLError as exc:
            raise DeliveryError(
                f"TLS with {where} failed: {exc.reason or type(exc).__name__}"
            ) from None
        except OSError as exc:
            raise DeliveryError(
                f"cannot reach SMTP server {where}: {exc.strerror or type(exc).__name__}"
            ) from None
        result = self.accepted(digest.mentions)
        if refused:  # accepted for some recipients: the digest went out, the rest is reported
            result.details = {"refused_recipients": sorted(refused)}
        return result
