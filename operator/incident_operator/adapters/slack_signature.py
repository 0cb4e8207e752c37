"""Slack's request signatures, checked with slack_sdk's own verifier.

Slack signs every request to the app's Request URL: ``X-Slack-Signature: v0=<hex
HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{body}" with the signing secret>``. A
request is taken when the signature matches and its timestamp is within five minutes of
now (either way), so a captured request cannot be replayed later
(docs/chat-ops.md#logging-from-chat).
"""

from collections.abc import Mapping

from slack_sdk.signature import SignatureVerifier

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
# The key of the --slack-app-secret Secret holding the app's signing secret.
SIGNING_SECRET_KEY = "signing-secret"


def slack_signed(body: bytes, headers: Mapping[str, str], signing_secret: str) -> bool:
    """Whether ``body`` with these headers was signed by Slack with ``signing_secret``
    within the last five minutes."""
    timestamp = headers.get(TIMESTAMP_HEADER)
    if not signing_secret.strip() or timestamp is None or not timestamp.strip().isdigit():
        return False
    verifier = SignatureVerifier(signing_secret)
    return verifier.is_valid(body, timestamp.strip(), headers.get(SIGNATURE_HEADER))
