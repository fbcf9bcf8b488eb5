"""email-smtp over TLS, as real submission servers speak it: STARTTLS (587) and implicit TLS
(465) against a local aiosmtpd server with a certificate from a throwaway CA (trustme). The
notifier verifies the server with the system's trust store (``ssl.create_default_context``);
the tests point that store at the CA with ``SSL_CERT_FILE``. Nothing leaves 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
import trustme

from mention_monitor.cli import main
from mention_monitor.notifiers.email import SmtpEmailNotifier, SmtpEmailOptions
from mention_monitor.secrets import EnvSecrets
from mention_monitor.services import Services
from tests.conftest import FakeClock, basic_config, summary_line
from tests.fakes.smtp import FakeSmtp
from tests.fakes.xapi import make_posts
from tests.samples import many

USER, PASSWORD = "mailer", "tls-only-s3cret-pass"
SECRETS = {
    "MENTION_MONITOR_SECRET_SMTP_USER": USER,
    "MENTION_MONITOR_SECRET_SMTP_PASS": PASSWORD,
}


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trust(tmp_path, monkeypatch):
    """``trust(ca)``: the system trust store becomes that CA alone (OpenSSL reads
    ``SSL_CERT_FILE`` whenever a default context loads its certificates)."""

    def _trust(ca: trustme.CA) -> None:
        path = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(path))
        monkeypatch.setenv("SSL_CERT_FILE", str(path))
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))

    return _trust


def notifier(port: int, security: str, **kw: Any) -> SmtpEmailNotifier:
    opts = SmtpEmailOptions(
        type="email-smtp",
        host="127.0.0.1",
        port=port,
        security=security,
        sender="monitor@example.com",
        recipients=["a@example.com"],
        username_secret="smtp_user",
        password_secret="smtp_pass",
        timeout_seconds=5,
        **kw,
    )
    return SmtpEmailNotifier("mail", opts, EnvSecrets(SECRETS), Services(clock=FakeClock()))


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_login_and_digest_go_over_verified_tls(ca, trust, security):
    trust(ca)
    server = FakeSmtp(tls=security, cert=ca.issue_cert("127.0.0.1"), credentials=(USER, PASSWORD))
    with server:
        result = notifier(server.port, security).send(many(3))
    assert result.ok, result.error
    assert server.logins == [USER] and server.failed_logins == 0
    assert len(server.messages) == 1 and server.over_tls == [True]
    assert server.messages[0].message["Subject"] == "3 new mentions of Acme"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_certificate_not_trusted_stops_before_the_password(ca, trust, security):
    trust(trustme.CA())  # the store trusts another CA: the server's certificate is unknown
    server = FakeSmtp(tls=security, cert=ca.issue_cert("127.0.0.1"), credentials=(USER, PASSWORD))
    with server:
        result = notifier(server.port, security).send(many(2))
    assert not result.ok
    assert f"TLS with 127.0.0.1:{server.port} failed: CERTIFICATE_VERIFY_FAILED" == result.error
    assert server.logins == [] and server.failed_logins == 0 and server.messages == []
    assert PASSWORD not in (result.error or "")


def test_a_certificate_for_another_host_is_refused(ca, trust):
    trust(ca)
    server = FakeSmtp(tls="starttls", cert=ca.issue_cert("mail.example.com"),
                      credentials=(USER, PASSWORD))
    with server:
        result = notifier(server.port, "starttls").send(many(1))
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert server.logins == [] and server.messages == []


def test_starttls_required_but_not_offered_sends_no_password(ca, trust):
    """A server (or a man in the middle) that strips STARTTLS: the notifier does not fall back
    to clear text, so neither the password nor the digest crosses the wire."""
    trust(ca)
    with FakeSmtp(credentials=(USER, PASSWORD)) as server:  # no TLS offered
        result = notifier(server.port, "starttls").send(many(1))
    assert not result.ok
    assert result.error == f"SMTP to 127.0.0.1:{server.port} failed: SMTPNotSupportedError"
    assert server.logins == [] and server.failed_logins == 0 and server.messages == []


def test_a_run_that_cannot_verify_the_server_delivers_later_exactly_once(
    tmp_path, fake_x, bearer, ca, trust, capsys, monkeypatch
):
    """Through ``mention-monitor run``: the TLS failure names the server, moves no delivery
    cursor and shows no secret; once the certificate verifies, the same mentions go out once."""
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    server = FakeSmtp(tls="starttls", cert=ca.issue_cert("127.0.0.1"), credentials=(USER, PASSWORD))
    with server:
        cfg = basic_config(
            tmp_path,
            fake_x.url,
            notify='["mail"]',
            notifiers=f"""
                [notifiers.mail]
                type = "email-smtp"
                host = "127.0.0.1"
                port = {server.port}
                security = "starttls"
                sender = "monitor@example.com"
                recipients = ["team@example.com"]
                username_secret = "smtp_user"
                password_secret = "smtp_pass"
            """,
        )
        fake_x.add_posts(make_posts(4, first_id=500))
        trust(trustme.CA())
        assert main(["run", "--config", str(cfg)]) == 1
        out, err = capsys.readouterr()
        summary = summary_line(out)
        acme = summary["watches"]["Acme"]
        assert acme["found"] == 4 and acme["delivered"] == {"mail": 0}
        assert "CERTIFICATE_VERIFY_FAILED" in acme["failed"]["mail"]
        assert PASSWORD not in out + err and server.messages == []

        trust(ca)
        assert main(["run", "--config", str(cfg)]) == 0
        out, err = capsys.readouterr()
        summary = summary_line(out)
        assert summary["watches"]["Acme"]["delivered"] == {"mail": 4}
        assert main(["run", "--config", str(cfg)]) == 0  # nothing new: nothing sent
        assert PASSWORD not in "".join(capsys.readouterr())
    assert len(server.messages) == 1 and server.over_tls == [True]
    assert sorted(server.tweet_ids) == [500, 501, 502, 503]
