"""The merge patch that turns one status into another, and nothing more."""

from typing import Any


def status_difference(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Top-level status keys whose value changes; removed keys map to None (a JSON merge
    patch deletes them). Lists and objects are replaced whole, as a merge patch does."""
    changed = {key: value for key, value in desired.items() if current.get(key) != value}
    removed = {key: None for key in current if key not in desired}
    return {**changed, **removed}
