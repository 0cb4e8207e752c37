"""The standard proxy variables, as the notifiers' HTTP clients apply them.

aiohttp sessions made with ``trust_env=True`` read HTTP_PROXY, HTTPS_PROXY and NO_PROXY
(either case) themselves. slack_sdk reads HTTPS_PROXY or HTTP_PROXY but not NO_PROXY,
so the Slack app's client is given the proxy ``proxy_for`` chooses for its URL instead.
SMTP (aiosmtplib) has no proxy: e-mail goes to the relay directly.
"""

import urllib.request
from urllib.parse import urlsplit


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``; None when NO_PROXY exempts its host
    or no proxy is set for its scheme."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if parts.hostname is None:
        return None
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if proxies.get("no") and urllib.request.proxy_bypass(host):
        return None
    return proxies.get(parts.scheme) or None
