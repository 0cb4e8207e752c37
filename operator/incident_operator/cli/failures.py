"""Every way the plugin can fail, as one line a person can act on.

The plugin's own client (``adapters/kube_http.py``) raises ``KubeUnreachable`` caused by
the socket or TLS error, and ``KubeApiError`` for an answer that is an error. The
Kubernetes client (used for what that one does not handle) raises urllib3's exceptions
for the network, wrapped a few levels deep (a MaxRetryError whose reason is a
NewConnectionError caused by the socket's ConnectionRefusedError, say), and its own
ApiException for an error answer. Both say the same things the same way.
``describe`` finds the cause in that chain and says what failed and where: the
kubeconfig and what is wrong with it, the server address that refused or did not answer,
the CA a certificate did not verify against. Anything not foreseen still gives one line
with the exception's type and message; ``--debug`` adds the traceback.

The line is escaped (``escape``): it may quote a name or a message from the cluster.
The Kubernetes client and urllib3 are looked at only when they were imported: an error
of theirs cannot exist otherwise, and importing them would slow every command down.
"""

from __future__ import annotations

import socket
import ssl
import sys
from collections.abc import Iterator
from typing import TypeVar

from incident_operator.adapters.kube_http import (
    CredentialError,
    ErrorAnswer,
    KubeApiError,
    KubeUnreachable,
    api_message,
)
from incident_operator.cli.common import PluginError
from incident_operator.cli.escape import escape
from incident_operator.cli.kubeconfig import Kubeconfig, KubeconfigError

E = TypeVar("E", bound=BaseException)


__all__ = ["PluginError", "api_message", "describe", "one_line"]


def describe(error: BaseException, source: Kubeconfig | None = None) -> str:
    """What failed, in one line (without the ``error:`` prefix)."""
    return one_line(_describe(error, source))


def one_line(text: str) -> str:
    """``text`` on one line: runs of whitespace with a newline become one space; escaped."""
    return escape(" ".join(text.split()) if "\n" in text or "\r" in text else text)


def _describe(error: BaseException, source: Kubeconfig | None) -> str:
    if isinstance(error, PluginError | KubeconfigError):
        return str(error)
    if isinstance(error, KubeApiError):
        return _answer(error, source)
    if isinstance(error, CredentialError):
        where = f"kubeconfig {source.where}" if source else "kubeconfig"
        return f"{where}: {error}"
    if "kubernetes" in sys.modules:
        from kubernetes import client, config

        if isinstance(error, client.ApiException):
            return _answer(error, source)
        if isinstance(error, config.ConfigException):
            where = f"kubeconfig {source.where}" if source else "kubeconfig"
            return f"{where}: {error}"
    if "yaml" in sys.modules:
        import yaml

        if isinstance(error, yaml.YAMLError):
            return f"a kubeconfig is not valid YAML: {' '.join(str(error).split())}"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    network = _network(error, source)
    if network is not None:
        return network
    if isinstance(error, OSError) and error.strerror:
        named = f"{error.filename}: " if error.filename else ""
        return f"{named}{error.strerror}"
    return f"unexpected {type(error).__name__}: {error} (run with --debug for the traceback)"


def _answer(error: ErrorAnswer, source: Kubeconfig | None) -> str:
    message = api_message(error)
    if error.status == 401:
        user = f" of context {source.context!r} in {source.where}" if source else ""
        return f"the API server {_server(None, source)} refused the credentials{user}: {message}"
    return message


def _network(error: BaseException, source: Kubeconfig | None) -> str | None:
    """The line for a failure to talk to the API server, or None if it is not one."""
    chain = list(_chain(error))
    own = _first(chain, KubeUnreachable)
    if own is not None:
        return _unreachable(own, chain, error, source)
    if "urllib3" not in sys.modules:
        return None
    import urllib3.exceptions as http

    if not any(isinstance(e, http.HTTPError) for e in chain):
        return None
    server = _server(error, source)
    via = f" (context {source.context!r} in {source.where})" if source else ""
    verification = _first(chain, ssl.SSLCertVerificationError)
    if verification is not None:
        return _unverified(verification, server, source)
    if _first(chain, http.SSLError) is not None:
        tls = _first(chain, ssl.SSLError)
        reason = _ssl_reason(tls) if tls else str(_first(chain, http.SSLError))
        return f"TLS with the API server {server} failed{via}: {reason}"
    if _first(chain, ConnectionRefusedError) is not None:
        return _refused(server, via)
    if _first(chain, http.NameResolutionError) or _first(chain, socket.gaierror):
        return _unresolved(server, via)
    if _first(chain, http.NewConnectionError) is not None:
        return _not_connected(chain, server, via)
    if _first(chain, http.ConnectTimeoutError) is not None:
        return _not_accepted(server, via)
    if _first(chain, http.ReadTimeoutError) is not None or _first(chain, TimeoutError):
        return _no_answer(server, via)
    if _first(chain, http.ProtocolError) is not None:
        return _broken_off(chain, server, via)
    return f"cannot talk to the API server {server}{via}: {' '.join(str(error).split())}"


def _unreachable(
    own: KubeUnreachable,
    chain: list[BaseException],
    error: BaseException,
    source: Kubeconfig | None,
) -> str:
    """The same lines for the plugin's own client, whose cause is the socket's error."""
    server = _server(error, source) if source is not None else own.server
    via = f" (context {source.context!r} in {source.where})" if source else ""
    verification = _first(chain, ssl.SSLCertVerificationError)
    if verification is not None:
        return _unverified(verification, server, source)
    tls = _first(chain, ssl.SSLError)
    if tls is not None:
        return f"TLS with the API server {server} failed{via}: {_ssl_reason(tls)}"
    if _first(chain, ConnectionRefusedError) is not None:
        return _refused(server, via)
    if _first(chain, socket.gaierror) is not None:
        return _unresolved(server, via)
    timeout = _first(chain, TimeoutError)
    if own.connecting:
        return _not_accepted(server, via) if timeout else _not_connected(chain, server, via)
    if timeout is not None:
        return _no_answer(server, via)
    if _first(chain, OSError) is not None:  # reset, or closed (kube_http.Disconnected)
        return _broken_off(chain, server, via)
    return f"cannot talk to the API server {server}{via}: {' '.join(str(error).split())}"


def _unverified(
    verification: ssl.SSLCertVerificationError, server: str, source: Kubeconfig | None
) -> str:
    reason = _ssl_reason(verification)
    against = source.ca if source else "the configured CA"
    return f"the certificate of the API server {server} did not verify against {against}: {reason}"


def _refused(server: str, via: str) -> str:
    return f"the API server {server} refused the connection{via}: is it running?"


def _unresolved(server: str, via: str) -> str:
    return f"cannot resolve the API server's host {server}{via}"


def _not_connected(chain: list[BaseException], server: str, via: str) -> str:
    cause = _first(chain, OSError)
    reason = cause.strerror if cause is not None and cause.strerror else "failed"
    return f"cannot connect to the API server {server}{via}: {reason}"


def _not_accepted(server: str, via: str) -> str:
    return f"the API server {server} did not accept the connection in time{via}"


def _no_answer(server: str, via: str) -> str:
    return f"the API server {server} did not answer in time{via}; see --request-timeout"


def _broken_off(chain: list[BaseException], server: str, via: str) -> str:
    cause = _first(chain, OSError)
    reason = f": {cause.strerror or cause}" if cause is not None else ""
    return f"the API server {server} broke off the connection{via}{reason}"


def _ssl_reason(error: ssl.SSLError) -> str:
    """OpenSSL's own words: the verification message, else the reason code, else the text."""
    # Set by the ssl module on the errors it raises; absent on ones made in Python.
    found = getattr(error, "verify_message", None) or getattr(error, "reason", None)
    return str(found) if found else " ".join(str(error).split())


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps: reasons, causes, contexts, exceptions in args."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [getattr(current, "reason", None), current.__cause__, current.__context__]
        wrapped += list(current.args)
        pending += [e for e in wrapped if isinstance(e, BaseException)]


def _first(chain: list[BaseException], kind: type[E]) -> E | None:
    return next((e for e in chain if isinstance(e, kind)), None)


def _server(error: BaseException | None, source: Kubeconfig | None) -> str:
    """The server's address: from the kubeconfig, else from the connection pool that failed."""
    if source is not None and source.server:
        return source.server
    pool = getattr(error, "pool", None)
    if pool is not None:
        return f"{pool.scheme}://{pool.host}:{pool.port}"
    return "(unknown)"
