"""Reading one key of a Secret for a notification channel, and nothing else.

Values are returned to the caller and never logged; errors name the Secret and the key,
never the value.
"""

import base64
import binascii
from collections.abc import Callable

from kubernetes import client

from incident_operator.adapters.kubernetes import core, is_not_found
from incident_operator.api.base import SecretKeyReference


class SecretError(Exception):
    """The Secret or its key is missing or unreadable; the message has no value in it."""


def read_secret_value(namespace: str, ref: SecretKeyReference) -> str:
    """Blocking; the decoded value of ``ref.key`` in Secret ``ref.name``."""
    try:
        secret = core().read_namespaced_secret(ref.name, namespace)
    except client.ApiException as error:
        if is_not_found(error):
            raise SecretError(f"Secret {namespace}/{ref.name} not found") from None
        raise SecretError(
            f"Secret {namespace}/{ref.name} could not be read (HTTP {error.status})"
        ) from None
    data = secret.data or {}
    if ref.key not in data:
        raise SecretError(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
    try:
        return base64.b64decode(data[ref.key]).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        raise SecretError(
            f"Secret {namespace}/{ref.name} key {ref.key!r} is not UTF-8 text"
        ) from None


def read_secret_data(namespace: str, name: str) -> dict[str, str]:
    """Blocking; every key of Secret ``name``, decoded."""
    try:
        secret = core().read_namespaced_secret(name, namespace)
    except client.ApiException as error:
        if is_not_found(error):
            raise SecretError(f"Secret {namespace}/{name} not found") from None
        raise SecretError(
            f"Secret {namespace}/{name} could not be read (HTTP {error.status})"
        ) from None
    values = {}
    for key, encoded in (secret.data or {}).items():
        try:
            values[key] = base64.b64decode(encoded).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            raise SecretError(f"Secret {namespace}/{name} key {key!r} is not UTF-8 text") from None
    return values


def secret_reader(namespace: str, name: str, key: str) -> Callable[[], str | None]:
    """A blocking reader of one Secret value, as ``CachedToken`` takes; empty is none."""
    return lambda: read_secret_value(namespace, SecretKeyReference(name=name, key=key)) or None
