"""Every way the plugin can fail, as one line a person can act on.

The Kubernetes client raises urllib3's exceptions for the network, wrapped a few levels
deep (a MaxRetryError whose reason is a NewConnectionError caused by the socket's
ConnectionRefusedError, say), and its own ApiException for an answer that is an error.
``describe`` finds the cause in that chain and says what failed and where: the
kubeconfig and what is wrong with it, the server address that refused or did not answer,
the CA a certificate did not verify against. Anything not foreseen still gives one line
with the exception's type and message; ``--debug`` adds the traceback.

The line is escaped (``escape``): it may quote a name or a message from the cluster.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import TypeVar

import urllib3.exceptions as http
import yaml
from kubernetes import client, config

from incident_operator.adapters.incident_actions import api_message
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
    if isinstance(error, client.ApiException):
        return _answer(error, source)
    if isinstance(error, config.ConfigException):
        where = f"kubeconfig {source.where}" if source else "kubeconfig"
        return f"{where}: {error}"
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


def _answer(error: client.ApiException, source: Kubeconfig | None) -> str:
    message = api_message(error)
    if error.status == 401:
        user = f" of context {source.context!r} in {source.where}" if source else ""
        return f"the API server {_server(None, source)} refused the credentials{user}: {message}"
    return message


def _network(error: BaseException, source: Kubeconfig | None) -> str | None:
    """The line for a failure to talk to the API server, or None if it is not one."""
    chain = list(_chain(error))
    if not any(isinstance(e, http.HTTPError) for e in chain):
        return None
    server = _server(error, source)
    via = f" (context {source.context!r} in {source.where})" if source else ""
    verification = _first(chain, ssl.SSLCertVerificationError)
    if verification is not None:
        reason = _ssl_reason(verification)
        against = source.ca if source else "the configured CA"
        return (
            f"the certificate of the API server {server} did not verify against {against}: {reason}"
        )
    if _first(chain, http.SSLError) is not None:
        tls = _first(chain, ssl.SSLError)
        reason = _ssl_reason(tls) if tls else str(_first(chain, http.SSLError))
        return f"TLS with the API server {server} failed{via}: {reason}"
    if _first(chain, ConnectionRefusedError) is not None:
        return f"the API server {server} refused the connection{via}: is it running?"
    if _first(chain, http.NameResolutionError) or _first(chain, socket.gaierror):
        return f"cannot resolve the API server's host {server}{via}"
    if _first(chain, http.NewConnectionError) is not None:
        cause = _first(chain, OSError)
        reason = cause.strerror if cause is not None and cause.strerror else "failed"
        return f"cannot connect to the API server {server}{via}: {reason}"
    if _first(chain, http.ConnectTimeoutError) is not None:
        return f"the API server {server} did not accept the connection in time{via}"
    if _first(chain, http.ReadTimeoutError) is not None or _first(chain, TimeoutError):
        return f"the API server {server} did not answer in time{via}; see --request-timeout"
    if _first(chain, http.ProtocolError) is not None:
        cause = _first(chain, OSError)
        reason = f": {cause.strerror or cause}" if cause is not None else ""
        return f"the API server {server} broke off the connection{via}{reason}"
    return f"cannot talk to the API server {server}{via}: {' '.join(str(error).split())}"


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
