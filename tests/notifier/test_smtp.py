"""The SMTP pool against a real aiosmtpd server: what counts as transient, what as permanent."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from notifier.errors import PermanentSendError, TransientSendError
from notifier.mail import MailRenderer
from notifier.smtp import SmtpPool
from shared.settings import SmtpSettings
from tests.notifier.helpers import alert
from tests.smtp_sink import SmtpSink

RENDERER = MailRenderer("alerts@pricealert.test")


def pool_for(sink: SmtpSink) -> SmtpPool:
    return SmtpPool(SmtpSettings(host="127.0.0.1", port=sink.port, timeout_seconds=5, pool_size=2))


async def test_a_refused_recipient_is_permanent_and_the_pool_goes_on(smtp_sink: SmtpSink) -> None:
    smtp_sink.behaviour.refuse["gone@example.com"] = "550 5.1.1 no such mailbox"
    pool = pool_for(smtp_sink)
    with pytest.raises(PermanentSendError, match="550"):
        await pool.send(RENDERER.render(alert(1, "gone@example.com")))
    await pool.send(RENDERER.render(alert(2)))
    await pool.close()
    assert smtp_sink.alert_ids == [2]


async def test_a_deferred_recipient_is_transient(smtp_sink: SmtpSink) -> None:
    smtp_sink.behaviour.defer_everything = "452 4.2.2 mailbox full"
    pool = pool_for(smtp_sink)
    with pytest.raises(TransientSendError, match="452"):
        await pool.send(RENDERER.render(alert(1)))
    await pool.close()


async def test_a_server_that_is_away_is_transient_and_its_return_is_noticed(
    smtp_sink: SmtpSink,
) -> None:
    pool = pool_for(smtp_sink)
    await pool.send(RENDERER.render(alert(1)))
    smtp_sink.stop()
    with pytest.raises(TransientSendError):
        await pool.send(RENDERER.render(alert(2)))
    smtp_sink.start()
    await pool.send(RENDERER.render(alert(3)))
    await pool.close()
    assert smtp_sink.alert_ids == [1, 3]


async def test_a_kept_connection_the_server_dropped_is_replaced_at_once(
    smtp_sink: SmtpSink,
) -> None:
    pool = pool_for(smtp_sink)
    await pool.send(RENDERER.render(alert(1)))
    smtp_sink.stop()  # drops the kept connection, as a server closing idle ones does
    smtp_sink.start()
    await pool.send(RENDERER.render(alert(2)))  # no error: no retry queue for this
    await pool.close()
    assert smtp_sink.alert_ids == [1, 2]


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_mail_goes_over_tls_with_a_login(
    mode: str, certificate_authority: trustme.CA, tmp_path: Path
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(server_context)
    sink = SmtpSink(tls=mode, context=server_context, login=("alerts", "s3cret"))
    sink.start()
    ca_file = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(ca_file))
    settings = SmtpSettings(
        host="127.0.0.1",
        port=sink.port,
        tls=mode,
        user="alerts",
        password="s3cret",
        ca_file=str(ca_file),
        pool_size=1,
    )
    pool = SmtpPool(settings)
    try:
        await pool.send(RENDERER.render(alert(1)))
        await pool.send(RENDERER.render(alert(2)))  # on the same, still encrypted, connection
    finally:
        await pool.close()
        sink.stop()
    assert sink.alert_ids == [1, 2]
    assert sink.logins == ["alerts"]


async def test_a_certificate_from_an_unknown_ca_is_refused(
    certificate_authority: trustme.CA,
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(server_context)
    sink = SmtpSink(tls="tls", context=server_context)
    sink.start()
    pool = SmtpPool(
        SmtpSettings(host="127.0.0.1", port=sink.port, tls="tls", pool_size=1)
    )  # system CAs
    try:
        with pytest.raises(TransientSendError, match=r"(?i)certificate"):
            await pool.send(RENDERER.render(alert(1)))
    finally:
        await pool.close()
        sink.stop()
    assert sink.received == []


async def test_a_wrong_password_is_transient_and_said_loudly(
    certificate_authority: trustme.CA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(server_context)
    sink = SmtpSink(tls="starttls", context=server_context, login=("alerts", "s3cret"))
    sink.start()
    ca_file = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(ca_file))
    settings = SmtpSettings(
        host="127.0.0.1",
        port=sink.port,
        tls="starttls",
        user="alerts",
        password="wrong",
        ca_file=str(ca_file),
        pool_size=1,
    )
    pool = SmtpPool(settings)
    try:
        with pytest.raises(TransientSendError):
            await pool.send(RENDERER.render(alert(1)))
    finally:
        await pool.close()
        sink.stop()
    assert "SMTP_USER" in caplog.text
