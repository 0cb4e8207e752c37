"""E-mail over SMTP (aiosmtplib): STARTTLS or implicit TLS, a password from a Secret.

The server's certificate is always verified, host name included: against the CA bundle
the channel's ``email.caSecretRef`` names (a private CA), or else the system's trust
store. A certificate that does not verify is a permanent failure that says so; a CA
bundle that is not PEM names its Secret and key, never its content.

The Message-ID is derived from the notification's key, so a resend after a crash is the
same message to any mail system that deduplicates; the key is in a header too.
"""

import hashlib
import ssl
from email.message import EmailMessage

import aiosmtplib

from incident_operator.adapters.notifiers.base import IDEMPOTENCY_HEADER, DeliveryError
from incident_operator.api.escalation_policy import EmailSettings
from incident_operator.domain.notifications import (
    OutgoingMessage,
    redact,
    retryable_smtp_code,
)

_SHOWN = 200


def email_message(message: OutgoingMessage, settings: EmailSettings) -> EmailMessage:
    mail = EmailMessage()
    late = " (late)" if message.late else ""
    mail["Subject"] = f"{message.subject}{late}"
    mail["From"] = settings.from_
    mail["To"] = ", ".join(message.recipients or settings.to)
    digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
    mail["Message-ID"] = f"<{digest}@incident-operator>"
    mail[f"X-{IDEMPOTENCY_HEADER}"] = message.idempotency_key
    mail["X-Incident"] = f"{message.incident_id} {message.severity.value}"
    mail.set_content(message.text)
    return mail


def tls_context(settings: EmailSettings, ca: str | None) -> ssl.SSLContext | None:
    """The context that verifies the server against ``ca`` (PEM); None: the system's."""
    ref = settings.ca_secret_ref
    if ref is None:
        return None
    problem = DeliveryError(
        f"Secret {ref.name} key {ref.key!r} (email.caSecretRef) holds no PEM CA certificate",
        retryable=False,
    )
    if not ca:
        raise problem
    try:
        return ssl.create_default_context(cadata=ca)
    except (ssl.SSLError, ValueError):
        raise problem from None


def _verification_failure(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind ``error`` (aiosmtplib wraps some)."""
    for seen in (error, error.__cause__, error.__context__):
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
    return None


class EmailNotifier:
    def __init__(
        self, settings: EmailSettings, password: str | None, timeout: float, ca: str | None = None
    ) -> None:
        self._settings = settings
        self._password = password
        self._timeout = timeout
        self._tls_context = tls_context(settings, ca)

    async def send(self, message: OutgoingMessage) -> None:
        settings = self._settings
        secrets = [self._password] if self._password else []
        try:
            await aiosmtplib.send(
                email_message(message, settings),
                hostname=settings.host,
                port=settings.port,
                use_tls=settings.tls,
                start_tls=settings.start_tls and not settings.tls,
                tls_context=self._tls_context,
                username=settings.username if self._password else None,
                password=self._password,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            raise DeliveryError(
                f"SMTP server refused the recipients ({', '.join(map(str, codes))})",
                all(retryable_smtp_code(code) for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            text = redact(str(error.message)[:_SHOWN], secrets)
            raise DeliveryError(
                f"SMTP server answered {error.code}: {text}", retryable_smtp_code(error.code)
            ) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            failure = _verification_failure(error)
            if failure is not None:
                trusted = "email.caSecretRef" if self._tls_context else "the system trust store"
                raise DeliveryError(
                    f"SMTP server {settings.host}:{settings.port}: TLS certificate verification "
                    f"failed against {trusted} ({failure.verify_message})",
                    retryable=False,
                ) from None
            raise DeliveryError(
                f"SMTP server {settings.host}:{settings.port} unreachable or failed "
                f"({type(error).__name__})",
                retryable=True,
            ) from None
