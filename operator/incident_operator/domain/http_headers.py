"""Which header names the operator's flags and Secrets may give for outgoing requests."""

# RFC 9110 5.1: a header name is a token.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Set by the client itself; credentials come from their own Secret, never a header flag.
_RESERVED = frozenset({"authorization", "host", "content-length", "content-type"})


def bad_header_name(name: str) -> str | None:
    """Why ``name`` cannot be given as an extra header; None when it can."""
    if not name or not set(name) <= _TOKEN:
        return "not a header name"
    if name.lower() in _RESERVED:
        return "set by the operator itself; give credentials from a Secret"
    return None
