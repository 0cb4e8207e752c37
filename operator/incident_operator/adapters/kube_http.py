"""A small Kubernetes API client on the standard library: JSON over one kept-alive HTTPS
connection.

The Kubernetes client package imports every generated model (about 200 ms), which is
most of the time a short-lived process such as ``kubectl incident ack`` would take. This
speaks the protocol directly with ``socket`` and ``ssl``: JSON in and out, one
connection for all the requests of a process, kubectl's impersonation headers and a
timeout per request. It imports neither the Kubernetes client nor pydantic.

It is built from a kubeconfig's cluster and user entries (``KubeHttp.from_entries``):
server (a path in its URL prefixes every request), CA (data or file; the system's roots
when neither), client certificate and key (data or file), token, tokenFile, ``exec``
credential plugins, insecure-skip-tls-verify, tls-server-name and an ``http://``
proxy-url. Anything else (auth-provider, basic auth, a SOCKS proxy, an entry it cannot
read) raises ``Unsupported``: the caller then uses the
Kubernetes client, which reports a broken entry in its own words.

Errors: an answer that is an error raises ``KubeApiError`` (``status``, ``reason``,
``body``, ``headers``, as the client's ApiException); no answer raises ``KubeUnreachable``
caused by the socket or TLS error, saying whether it happened while connecting.
"""

from __future__ import annotations

import _thread  # its ident only: threading is a dozen imports more
import json
import os
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# subprocess, tempfile, base64 and datetime are imported where an exec plugin or inline
# key material needs them: most kubeconfigs need none, and each costs start-up time.

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
# Acting as someone else (kubectl --as/--as-group; the Slack actions): one header line each.
IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
_EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
)
# Read once the connection is open; a watch then waits for as long as it must.
_NO_TIMEOUT = None


class Unsupported(Exception):
    """The kubeconfig entry asks for something this client does not do; use the full one."""


class KubeApiError(Exception):
    """The API server answered with an error status (as the client's ApiException)."""

    def __init__(self, status: int, reason: str, body: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"({status}) Reason: {reason}")
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = dict(headers)


class ErrorAnswer(Protocol):
    """An error answer: ``KubeApiError`` or the Kubernetes client's ApiException."""

    @property
    def status(self) -> int | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def body(self) -> str | None: ...


def api_message(error: ErrorAnswer) -> str:
    """The API server's own message for an error answer, or its status line."""
    try:
        return str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return f"{error.status} {error.reason}"


class KubeUnreachable(Exception):
    """No answer from the API server; ``__cause__`` is the socket, TLS or HTTP error."""

    def __init__(self, server: str, connecting: bool) -> None:
        phase = "connecting to" if connecting else "talking to"
        super().__init__(f"{phase} {server}")
        self.server = server
        self.connecting = connecting


class CredentialError(Exception):
    """The kubeconfig's credential plugin (``exec``) or token file failed."""


@dataclass
class _Credentials:
    """What authenticates a request: a bearer token and/or a client certificate."""

    token: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    expires: float | None = None  # time.time() after which an exec plugin runs again


@dataclass
class ExecPlugin:
    """A kubeconfig ``user.exec``: a command printing an ExecCredential."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = _EXEC_API_VERSIONS[0]
    base: Path = Path()  # a relative command is relative to the kubeconfig's directory

    def run(self, files: _PrivateFiles) -> _Credentials:
        import subprocess

        command = self.command
        if os.sep in command and not Path(command).is_absolute():
            command = str(self.base / command)
        spec = {"interactive": False}
        info = {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec}
        env = {**os.environ, **dict(self.env), "KUBERNETES_EXEC_INFO": json.dumps(info)}
        try:
            done = subprocess.run(
                [command, *self.args],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise CredentialError(f"exec plugin {self.command}: {error}") from error
        if done.returncode != 0:
            said = " ".join(done.stderr.split()) or "no message"
            raise CredentialError(
                f"exec plugin {self.command} exited with {done.returncode}: {said}"
            )
        try:
            status = json.loads(done.stdout)["status"]
        except (ValueError, KeyError, TypeError) as error:
            raise CredentialError(
                f"exec plugin {self.command} did not print an ExecCredential with a status"
            ) from error
        credentials = _Credentials(token=status.get("token"))
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            credentials.cert_file = files.write("exec.crt", status["clientCertificateData"])
            credentials.key_file = files.write("exec.key", status["clientKeyData"])
        if status.get("expirationTimestamp"):
            credentials.expires = _timestamp(str(status["expirationTimestamp"]))
        if not credentials.token and not credentials.cert_file:
            raise CredentialError(f"exec plugin {self.command} gave neither token nor certificate")
        return credentials


def _timestamp(text: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as error:
        raise CredentialError(
            f"exec plugin: expirationTimestamp {text!r} is not RFC 3339"
        ) from error


class _PrivateFiles:
    """Key material ssl can only load from files: a 0700 directory removed at exit."""

    def __init__(self) -> None:
        self._directory: str | None = None

    def write(self, name: str, text: str) -> str:
        if self._directory is None:
            import atexit
            import shutil
            import tempfile

            self._directory = tempfile.mkdtemp(prefix="kube-http-")
            atexit.register(shutil.rmtree, self._directory, True)
        path = os.path.join(self._directory, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        return path


class Disconnected(ConnectionError):
    """The server closed the connection, or said something that is not HTTP/1.1."""


class _Response:
    """An answer's status line and headers; its body read as a whole or chunk by chunk."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        line = reader.readline(65537)
        if not line:
            raise Disconnected("Remote end closed connection without response")
        try:
            version, status, *reason = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            self.status = int(status)
        except ValueError:
            raise Disconnected(f"not an HTTP status line: {line[:80]!r}") from None
        if not version.startswith("HTTP/1."):
            raise Disconnected(f"not an HTTP/1.x answer: {line[:80]!r}")
        self.reason = reason[0] if reason else ""
        self.headers: dict[str, str] = {}
        while (header := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            self.headers[name.strip()] = value.strip()
        fields = {name.lower(): value for name, value in self.headers.items()}
        self._chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        length = fields.get("content-length")
        self._length = int(length) if length and not self._chunked else None
        if self.status in (204, 304) or 100 <= self.status < 200:
            self._length = 0
        # Without a length the body ends when the connection does.
        self.will_close = fields.get("connection", "").lower() == "close" or (
            not self._chunked and self._length is None
        )

    def chunks(self) -> Iterator[bytes]:
        """The body as it comes."""
        if self._chunked:
            while True:
                size_line = self._reader.readline(65537)
                if not size_line:
                    raise Disconnected("the connection ended inside a chunked body")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self._reader.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                chunk = self._reader.read(size)
                self._reader.readline(65537)  # the CRLF after the chunk
                if len(chunk) < size:
                    raise Disconnected("the connection ended inside a chunk")
                yield chunk
        elif self._length is not None:
            if self._length:
                body = self._reader.read(self._length)
                if len(body) < self._length:
                    raise Disconnected("the connection ended inside the body")
                yield body
        else:
            while block := self._reader.read1(65536):
                yield block

    def read(self) -> bytes:
        return b"".join(self.chunks())


class _Connection:
    """One HTTP/1.1 connection over TLS (through an http proxy's CONNECT if given).

    Not ``http.client``: it imports the e-mail package to parse headers, a sixth of the
    plugin's start-up; the API server's answers need only what is below.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext,
        server_name: str | None,
        proxy: tuple[str, int] | None,
        timeout: float | None,
    ) -> None:
        self.host, self.port = host, port
        self.context, self.server_name, self.proxy = context, server_name, proxy
        self.timeout = timeout
        self.sock: ssl.SSLSocket | None = None
        self._reader: Any = None
        # Set once TCP is up: a timeout after it is the server not answering (TLS), as
        # urllib3 reports it, not the server not accepting the connection.
        self.tcp_connected = False

    def connect(self) -> None:
        raw = socket.create_connection(self.proxy or (self.host, self.port), self.timeout)
        try:
            if self.proxy is not None:
                self._tunnel(raw)
            self.tcp_connected = True
            self.sock = self.context.wrap_socket(raw, server_hostname=self.server_name or self.host)
        except BaseException:
            raw.close()
            raise
        self._reader = self.sock.makefile("rb")

    def _tunnel(self, raw: socket.socket) -> None:
        target = f"{self.host}:{self.port}"
        raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        answer = _Response(raw.makefile("rb"))
        if answer.status != 200:
            raise OSError(f"the proxy {self.proxy} answered CONNECT with {answer.status}")

    def send(self, head: bytes, payload: bytes | None) -> _Response:
        assert self.sock is not None
        self.sock.sendall(head + (payload or b""))
        return _Response(self._reader)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self.sock is not None:
            self.sock.close()
        self.sock, self._reader = None, None


@dataclass
class KubeHttp:
    """Requests to one API server over one kept-alive connection."""

    server: str
    context: ssl.SSLContext
    token: str | None = None
    token_file: Path | None = None
    cert_file: str | None = None
    key_file: str | None = None
    exec_plugin: ExecPlugin | None = None
    server_name: str | None = None
    proxy: tuple[str, int] | None = None
    timeout: float | None = 30.0
    impersonate_user: str | None = None
    impersonate_groups: tuple[str, ...] = ()
    user_agent: str = "kube-http"
    _files: _PrivateFiles = field(default_factory=_PrivateFiles, repr=False)
    # One connection a thread (the dashboard asks from several): by thread id.
    _connections: dict[int, _Connection] = field(default_factory=dict, repr=False)
    _reused: set[int] = field(default_factory=set, repr=False)  # threads that sent one
    _exec: _Credentials | None = field(default=None, repr=False)
    _loaded_cert: tuple[str, str] | None = field(default=None, repr=False)

    @classmethod
    def from_entries(
        cls,
        cluster: Mapping[str, Any],
        user: Mapping[str, Any],
        cluster_dir: Path,
        user_dir: Path,
        *,
        timeout: float | None = 30.0,
        impersonate_user: str | None = None,
        impersonate_groups: Sequence[str] = (),
        user_agent: str = "kube-http",
    ) -> KubeHttp:
        """From a kubeconfig's cluster and user entries (relative paths are relative to
        the directory of the file each is defined in); Unsupported when it cannot."""
        for key in ("auth-provider", "username", "password", "as", "as-groups", "as-uid"):
            if user.get(key):
                raise Unsupported(f"user.{key}")
        server = str(cluster.get("server") or "")
        parsed = urllib.parse.urlsplit(server)
        if parsed.scheme != "https" or not parsed.hostname or parsed.query or parsed.fragment:
            raise Unsupported(f"server {server!r}")
        files = _PrivateFiles()
        context = _tls_context(cluster, cluster_dir)
        cert_file = _material(user, "client-certificate", user_dir, files)
        key_file = _material(user, "client-key", user_dir, files)
        if bool(cert_file) != bool(key_file):
            raise Unsupported("a client certificate without its key, or a key without one")
        token_file = user.get("tokenFile")
        if token_file and not user.get("token") and not _path(token_file, user_dir).is_file():
            raise Unsupported(f"tokenFile {token_file} is not a file")
        return cls(
            server=server.rstrip("/"),
            context=context,
            token=str(user["token"]) if user.get("token") else None,
            token_file=_path(token_file, user_dir) if token_file else None,
            cert_file=cert_file,
            key_file=key_file,
            exec_plugin=_exec_plugin(user.get("exec"), user_dir),
            server_name=str(cluster["tls-server-name"]) if cluster.get("tls-server-name") else None,
            proxy=_proxy(cluster.get("proxy-url")),
            timeout=timeout,
            impersonate_user=impersonate_user,
            impersonate_groups=tuple(impersonate_groups),
            user_agent=user_agent,
            _files=files,
        )

    @property
    def _connection(self) -> _Connection | None:
        """This thread's connection, if it has one open."""
        return self._connections.get(_thread.get_ident())

    @_connection.setter
    def _connection(self, connection: _Connection | None) -> None:
        if connection is None:
            self._connections.pop(_thread.get_ident(), None)
        else:
            self._connections[_thread.get_ident()] = connection

    @property
    def _used(self) -> bool:
        """A request went over this thread's connection: the server may have closed it."""
        return _thread.get_ident() in self._reused

    @_used.setter
    def _used(self, used: bool) -> None:
        if used:
            self._reused.add(_thread.get_ident())
        else:
            self._reused.discard(_thread.get_ident())

    # Requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Any:
        """One request; the answer decoded from JSON (None when it is empty)."""
        response = self._send(method, path, query, body, content_type, accept, self.timeout)
        try:
            data = response.read()
        except OSError as error:
            self.close()
            raise KubeUnreachable(self.server, connecting=False) from error
        if response.will_close:
            self.close()
        return json.loads(data) if data else None

    def stream(
        self,
        path: str,
        query: Mapping[str, str] | None = None,
        *,
        accept: str = JSON,
        connect_timeout: float = 10.0,
    ) -> Iterator[dict[str, Any]]:
        """The JSON lines of a watch as they come; ends when the server ends the watch."""
        response = self._send("GET", path, query, None, JSON, accept, connect_timeout)
        finished = False
        pending = b""
        try:
            assert self._connection is not None
            assert self._connection.sock is not None
            self._connection.sock.settimeout(_NO_TIMEOUT)
            chunks = response.chunks()
            while True:
                try:
                    chunk = next(chunks, None)
                except OSError as error:
                    raise KubeUnreachable(self.server, connecting=False) from error
                if chunk is None:
                    finished = True
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
            if pending.strip():
                yield json.loads(pending)
        finally:
            if not finished or response.will_close:
                self.close()  # left mid-watch: the connection carries the rest of it
            elif self._connection is not None and self._connection.sock is not None:
                self._connection.sock.settimeout(self.timeout)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection, self._used = None, False

    # Inside -----------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        content_type: str,
        accept: str,
        timeout: float | None,
    ) -> _Response:
        # A server URL with a path (a proxy in front of the API server, as Rancher's) is
        # the prefix of every request's path.
        prefix = urllib.parse.urlsplit(self.server).path
        url = prefix + path + ("?" + urllib.parse.urlencode(list(query.items())) if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        credentials = self._credentials()
        for attempt in (1, 2):
            reused = self._used
            connection = self._connect(credentials, timeout)
            lines = [f"{method} {url} HTTP/1.1", f"Host: {self._host}"]
            headers = self._headers(credentials, accept, content_type, payload)
            lines += [f"{name}: {value}" for name, value in headers]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            try:
                response = connection.send(head, payload)
            except OSError as error:
                self.close()
                # A kept-alive connection the server closed meanwhile: once more on a new one.
                stale = isinstance(error, Disconnected | BrokenPipeError | ConnectionResetError)
                if reused and stale and attempt == 1:
                    continue
                raise KubeUnreachable(self.server, connecting=False) from error
            self._used = True
            if 200 <= response.status < 300:
                return response
            text = self._read_error(response)
            if response.status == 401 and self.exec_plugin is not None and attempt == 1:
                # The plugin's credential may have been revoked early: ask it again, once.
                self._exec = None
                credentials = self._credentials()
                continue
            raise KubeApiError(response.status, response.reason, text, response.headers)
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def _host(self) -> str:
        return urllib.parse.urlsplit(self.server).netloc

    def _read_error(self, response: _Response) -> str:
        try:
            text = response.read().decode(errors="replace")
        except OSError:
            text = ""
            self.close()
        if response.will_close:
            self.close()
        return text

    def _connect(self, credentials: _Credentials, timeout: float | None) -> _Connection:
        cert = (
            (credentials.cert_file, credentials.key_file)
            if credentials.cert_file and credentials.key_file
            else None
        )
        if cert is not None and cert != self._loaded_cert:
            try:
                self.context.load_cert_chain(*cert)
            except (ssl.SSLError, OSError) as error:
                raise CredentialError(f"client certificate {cert[0]}: {error}") from error
            self._loaded_cert = cert
            self.close()
        if self._connection is None:
            parsed = urllib.parse.urlsplit(self.server)
            host, port = parsed.hostname or "", parsed.port or 443
            connection = _Connection(
                host,
                port,
                context=self.context,
                server_name=self.server_name,
                proxy=self.proxy,
                timeout=timeout,
            )
            try:
                connection.connect()
            except OSError as error:
                connection.close()
                raise KubeUnreachable(
                    self.server, connecting=not connection.tcp_connected
                ) from error
            self._connection = connection
        if self._connection.sock is not None:
            self._connection.sock.settimeout(timeout)
        return self._connection

    def _headers(
        self, credentials: _Credentials, accept: str, content_type: str, payload: bytes | None
    ) -> Iterator[tuple[str, str]]:
        yield "Accept", accept
        yield "User-Agent", self.user_agent
        if credentials.token:
            yield "Authorization", f"Bearer {credentials.token}"
        if self.impersonate_user:
            yield IMPERSONATE_USER, self.impersonate_user
        for group in self.impersonate_groups:
            # One header line a group: the API server does not split on commas.
            yield IMPERSONATE_GROUP, group
        if payload is not None:
            yield "Content-Type", content_type
            yield "Content-Length", str(len(payload))

    def _credentials(self) -> _Credentials:
        if self.exec_plugin is not None:
            if self._exec is None or (
                self._exec.expires is not None and time.time() >= self._exec.expires
            ):
                self._exec = self.exec_plugin.run(self._files)
            exec_credentials = self._exec
            return _Credentials(
                token=self.token or exec_credentials.token,
                cert_file=self.cert_file or exec_credentials.cert_file,
                key_file=self.key_file or exec_credentials.key_file,
            )
        token = self.token
        if token is None and self.token_file is not None:
            try:
                token = self.token_file.read_text().strip()
            except OSError as error:
                raise CredentialError(f"tokenFile {self.token_file}: {error.strerror}") from error
        return _Credentials(token=token, cert_file=self.cert_file, key_file=self.key_file)


def _tls_context(cluster: Mapping[str, Any], base: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cluster.get("insecure-skip-tls-verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        if cluster.get("certificate-authority-data"):
            pem = _decoded(cluster["certificate-authority-data"])
            context.load_verify_locations(cadata=pem)
        elif cluster.get("certificate-authority"):
            context.load_verify_locations(cafile=str(_path(cluster["certificate-authority"], base)))
        else:
            context.load_default_certs()
    except (ssl.SSLError, OSError, ValueError) as error:
        raise Unsupported(f"the cluster's CA: {error}") from error
    return context


def _material(entry: Mapping[str, Any], key: str, base: Path, files: _PrivateFiles) -> str | None:
    """``key`` (a file) or ``key-data`` (base64 PEM, written to a private file), as a path."""
    if entry.get(f"{key}-data"):
        return files.write(key, _decoded(entry[f"{key}-data"]))
    if entry.get(key):
        path = _path(entry[key], base)
        if not path.is_file():
            raise Unsupported(f"{key} {path} is not a file")  # the client says it as today
        return str(path)
    return None


def _decoded(data: Any) -> str:
    import base64
    import binascii

    try:
        return base64.b64decode(str(data), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise Unsupported(f"not base64 PEM: {error}") from error


def _path(value: Any, base: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _exec_plugin(entry: Any, base: Path) -> ExecPlugin | None:
    if not entry:
        return None
    if not isinstance(entry, Mapping) or not entry.get("command"):
        raise Unsupported("user.exec without a command")
    version = str(entry.get("apiVersion") or "")
    if version not in _EXEC_API_VERSIONS or entry.get("interactiveMode") == "Always":
        raise Unsupported(f"user.exec apiVersion {version!r}")
    if entry.get("provideClusterInfo"):
        raise Unsupported("user.exec provideClusterInfo")
    try:
        env = tuple((str(e["name"]), str(e["value"])) for e in entry.get("env") or ())
        args = tuple(str(arg) for arg in entry.get("args") or ())
    except (KeyError, TypeError) as error:
        raise Unsupported("user.exec env or args") from error
    return ExecPlugin(str(entry["command"]), args, env, version, base)


def _proxy(url: Any) -> tuple[str, int] | None:
    if not url:
        return None
    parsed = urllib.parse.urlsplit(str(url))
    if parsed.scheme != "http" or not parsed.hostname or parsed.username:
        raise Unsupported(f"proxy-url {url!r}")
    return parsed.hostname, parsed.port or 80


__all__ = [
    "JSON",
    "MERGE_PATCH",
    "CredentialError",
    "Disconnected",
    "ExecPlugin",
    "KubeApiError",
    "KubeHttp",
    "KubeUnreachable",
    "Unsupported",
]
