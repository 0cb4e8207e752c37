"""The dashboard's defences: it is a local server that acts with the user's credentials.

Any web page the user visits can make the browser send a request to 127.0.0.1, so:

- Loopback only. ``--address`` must be a loopback address; nothing else may connect.
- Host check, against DNS rebinding: a page on ``evil.example`` whose name is made to
  resolve to 127.0.0.1 sends ``Host: evil.example:PORT``. Only ``127.0.0.1:PORT``,
  ``localhost:PORT`` and ``[::1]:PORT`` are served, for every request (reads too: the
  pages show incidents).
- Actions are POSTs only, each carrying the per-process random token (a hidden form
  field that only pages this server rendered hold), compared in constant time. Another
  origin can send a form but cannot read the token: it gets no CORS header, and
  framing is refused (``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``).
- An ``Origin`` header, when the browser sends one, must be this server's own.
"""

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

LOOPBACK_NAMES = ("localhost",)
TOKEN_FIELD = "token"
# Sent with every response: no framing, scripts and styles from this server only.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it, Chromium sends "Origin: null" on the dashboard's own forms,
    # which the Origin check must refuse (sandboxed frames elsewhere send it too).
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class NotLoopback(ValueError):
    """An --address other machines could reach."""


def loopback_address(text: str) -> str:
    """``text`` if it is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if text.lower() in LOOPBACK_NAMES:
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(text.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopback(
            f"{text} is not a loopback address: the dashboard acts with your credentials, so "
            "it listens on loopback only (127.0.0.1, ::1 or localhost); to reach it from "
            "another machine, forward a port over SSH"
        )
    return text.strip("[]")


@dataclass(frozen=True)
class Guard:
    """The checks for one running dashboard: its port and its token."""

    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset(f"{host}:{self.port}" for host in ("127.0.0.1", "localhost", "[::1]"))

    def host_allowed(self, host: str | None) -> bool:
        return host is not None and host.lower() in self.hosts

    def origin_allowed(self, origin: str | None) -> bool:
        """No Origin (a plain navigation, an old browser) is fine; a foreign one is not."""
        if origin is None:
            return True
        scheme, _, host = origin.lower().partition("://")
        return scheme == "http" and host in self.hosts

    def token_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.token.encode()
        )

    def refusal(self, method: str, host: str | None, origin: str | None) -> str | None:
        """Why a request is refused before it is looked at, or None. The token is checked
        once the form is read (``token_matches``)."""
        if not self.host_allowed(host):
            return f"Host {host!r} is not this dashboard (DNS rebinding?)"
        if method not in ("GET", "HEAD", "POST"):
            return f"{method} is not allowed"
        if not self.origin_allowed(origin):
            return f"Origin {origin!r} is not this dashboard"
        return None
