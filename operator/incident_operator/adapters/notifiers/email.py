"""E-mail over SMTP (aiosmtplib): STARTTLS when asked, a password from a Secret.

The Message-ID is derived from the notification's key, so a resend after a crash is the
same message to any mail system that deduplicates; the key is in a header too.
"""

import hashlib
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
    mail["To"] = ", ".join(settings.to)
    digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
    mail["Message-ID"] = f"<{digest}@incident-operator>"
    mail[f"X-{IDEMPOTENCY_HEADER}"] = message.idempotency_key
    mail["X-Incident"] = f"{message.incident_id} {message.severity.value}"
    mail.set_content(message.text)
    return mail


class EmailNotifier:
    def __init__(self, settings: EmailSettings, password: str | None, timeout: float) -> None:
        self._settings = settings
        self._password = password
        self._timeout = timeout

    async def send(self, message: OutgoingMessage) -> None:
        settings = self._settings
        secrets = [self._password] if self._password else []
        try:
            await aiosmtplib.send(
                email_message(message, settings),
                hostname=settings.host,
                port=settings.port,
                start_tls=settings.start_tls,
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
            raise DeliveryError(
                f"SMTP server {settings.host}:{settings.port} unreachable or failed "
                f"({type(error).__name__})",
                retryable=True,
            ) from None
