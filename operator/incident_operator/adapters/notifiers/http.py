"""POSTing JSON for the HTTP notifiers, with errors that never show the URL or a secret.

aiohttp's own exceptions print the request URL, and for Slack the URL *is* the secret;
so every failure is turned into a message made here from the status code, the
exception's class, and at most a short, redacted part of the response body.
"""

from typing import Any

import aiohttp

from incident_operator.adapters.notifiers.base import DeliveryError
from incident_operator.domain.notifications import redact, retryable_http_status

_BODY_SHOWN = 200


def client_session(total_seconds: float) -> aiohttp.ClientSession:
    """The notifiers' HTTP session: each request bounded by ``total_seconds``, and the
    standard proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) honoured, as in curl."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=total_seconds), trust_env=True)


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any] | list[Any],
    headers: dict[str, str],
    secrets: list[str],
    what: str,
) -> None:
    """POSTs ``body``; any 2xx is success. ``what`` names the receiver in errors."""
    try:
        async with session.post(url, json=body, headers=headers) as response:
            if 200 <= response.status < 300:
                return
            text = redact((await response.text(errors="replace"))[:_BODY_SHOWN], secrets)
            raise DeliveryError(
                f"{what} answered HTTP {response.status}: {text.strip() or response.reason}",
                retryable_http_status(response.status),
            )
    except DeliveryError:
        raise
    except TimeoutError:
        raise DeliveryError(f"{what} did not answer in time", retryable=True) from None
    except aiohttp.ClientConnectionError as error:
        raise DeliveryError(
            f"{what} unreachable ({type(error).__name__})", retryable=True
        ) from None
    except aiohttp.InvalidURL:
        raise DeliveryError(f"{what}: the URL is not valid", retryable=False) from None
    except aiohttp.ClientError as error:
        raise DeliveryError(f"{what} failed ({type(error).__name__})", retryable=True) from None
