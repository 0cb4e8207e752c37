"""The JSON merge patch (RFC 7386) that turns one status into another, and nothing more."""

from typing import Any


def status_difference(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Only what changes. Objects are compared key by key, as a merge patch applies them,
    so a key that disappears inside an object is sent as None (deleted) instead of being
    left behind; lists and scalars are replaced whole."""
    patch: dict[str, Any] = {}
    for key in current.keys() | desired.keys():
        if key not in desired:
            patch[key] = None
        elif key not in current:
            patch[key] = desired[key]
        elif isinstance(current[key], dict) and isinstance(desired[key], dict):
            nested = status_difference(current[key], desired[key])
            if nested:
                patch[key] = nested
        elif current[key] != desired[key]:
            patch[key] = desired[key]
    return patch
