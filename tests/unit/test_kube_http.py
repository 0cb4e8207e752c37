"""The plugin's own Kubernetes client (adapters/kube_http.py) against a local HTTPS server
on 127.0.0.1 with a test CA: credentials, impersonation, one connection, watches, and
its errors described as the Kubernetes client's are (cli/failures.py)."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_operator.adapters.kube_http import (
    CredentialError,
    Disconnected,
    KubeApiError,
    KubeHttp,
    KubeUnreachable,
    Unsupported,
)
from incident_operator.cli.cluster import Cluster
from incident_operator.cli.failures import describe
from incident_operator.cli.kubeconfig import Kubeconfig
from tests.harness.certs import Certificates, _openssl, generate


@dataclass
class Seen:
    """What the server saw of one request."""

    method: str
    path: str
    headers: dict[str, list[str]]
    peer: int  # the client's port: one per connection
    client_cn: str | None
    body: Any = None


@dataclass
class Server:
    url: str
    seen: list[Seen] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Any

    def log_message(self, *_: Any) -> None:
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> Seen:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        certificate: Any = self.connection.getpeercert()  # type: ignore[attr-defined]
        subject = {k: v for rdn in (certificate or {}).get("subject", ()) for k, v in rdn}
        headers: dict[str, list[str]] = {}
        for name in self.headers:
            headers[name.lower()] = self.headers.get_all(name) or []
        seen = Seen(
            self.command,
            self.path,
            headers,
            self.client_address[1],
            subject.get("commonName"),
            body,
        )
        self.server.seen.append(seen)
        return seen

    def do_GET(self) -> None:
        seen = self._record()
        if seen.path.startswith("/missing"):
            self._answer(404, {"kind": "Status", "message": 'incidents "x" not found'})
        elif seen.path.startswith("/watch"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for number in (1, 2):
                line = json.dumps({"type": "ADDED", "object": {"n": number}}).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._answer(200, {"path": seen.path})

    def do_POST(self) -> None:
        seen = self._record()
        user = (seen.headers.get("authorization") or ["?"])[0]
        self._answer(201, {"status": {"userInfo": {"username": seen.client_cn or user}}})

    do_PATCH = do_GET


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return generate(tmp_path_factory.mktemp("kube-http-certs"))


@pytest.fixture(scope="module")
def client_cert(certs: Certificates) -> tuple[Path, Path]:
    """A client certificate for CN=jane signed by the test CA."""
    directory = certs.ca_cert.parent
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=jane",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "client.csr", "-days", "1", "-CA", certs.ca_cert.name,
        "-CAkey", certs.ca_key.name, "-CAcreateserial", "-extfile", "client.ext",
        "-out", "client.crt",
        cwd=directory,
    )  # fmt: skip
    return directory / "client.crt", directory / "client.key"


@pytest.fixture(scope="module")
def _serving(certs: Certificates) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.serving_cert, certs.serving_key)
    context.load_verify_locations(cafile=str(certs.ca_cert))
    context.verify_mode = ssl.CERT_OPTIONAL  # a client certificate when one is offered
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    found = Server(f"https://127.0.0.1:{httpd.server_address[1]}")
    httpd.seen = found.seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield found
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(_serving: Server) -> Server:
    """The module's server, with what it saw of earlier tests forgotten."""
    _serving.seen.clear()
    return _serving


def _client(server: Server, certs: Certificates, user: dict[str, Any], **kw: Any) -> KubeHttp:
    cluster = {"server": server.url, "certificate-authority": str(certs.ca_cert)}
    return KubeHttp.from_entries(cluster, user, Path("/"), Path("/"), **kw)


def test_token_and_impersonation_headers(server: Server, certs: Certificates) -> None:
    kube = _client(
        server,
        certs,
        {"token": "t0k"},
        impersonate_user="jane",
        impersonate_groups=("sre", "incident-approvers"),
    )
    assert kube.request("GET", "/ok", {"a": "b c"}) == {"path": "/ok?a=b+c"}
    (seen,) = server.seen
    assert seen.headers["authorization"] == ["Bearer t0k"]
    assert seen.headers["impersonate-user"] == ["jane"]
    # One header line a group: the API server does not split on commas.
    assert seen.headers["impersonate-group"] == ["sre", "incident-approvers"]


def test_a_server_url_with_a_path_prefixes_each_request(
    server: Server, certs: Certificates
) -> None:
    ca = str(certs.ca_cert)
    cluster = {"server": f"{server.url}/k8s/clusters/c-1/", "certificate-authority": ca}
    kube = KubeHttp.from_entries(cluster, {}, Path(), Path())
    assert kube.request("GET", "/api/v1") == {"path": "/k8s/clusters/c-1/api/v1"}


def test_a_body_goes_as_json_with_its_content_type(server: Server, certs: Certificates) -> None:
    kube = _client(server, certs, {"token": "t"})
    patch = "application/merge-patch+json"
    kube.request("PATCH", "/x", None, {"spec": {"a": 1}}, content_type=patch)
    (seen,) = server.seen
    assert (seen.method, seen.body) == ("PATCH", {"spec": {"a": 1}})
    assert seen.headers["content-type"] == ["application/merge-patch+json"]


def test_one_connection_for_all_requests(server: Server, certs: Certificates) -> None:
    kube = _client(server, certs, {"token": "t"})
    for _ in range(3):
        kube.request("GET", "/ok")
    with pytest.raises(KubeApiError):
        kube.request("GET", "/missing")
    kube.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body={})
    assert len({seen.peer for seen in server.seen}) == 1, server.seen


def test_a_closed_kept_alive_connection_is_opened_again(
    server: Server, certs: Certificates
) -> None:
    kube = _client(server, certs, {"token": "t"})
    kube.request("GET", "/ok")
    assert kube._connection is not None
    assert kube._connection.sock is not None
    kube._connection.sock.shutdown(socket.SHUT_RDWR)  # as a server's idle timeout would
    assert kube.request("GET", "/again") == {"path": "/again"}
    assert len({seen.peer for seen in server.seen}) == 2


def test_client_certificate_from_data_in_private_files(
    server: Server, certs: Certificates, client_cert: tuple[Path, Path]
) -> None:
    crt, key = client_cert
    user = {
        "client-certificate-data": base64.b64encode(crt.read_bytes()).decode(),
        "client-key-data": base64.b64encode(key.read_bytes()).decode(),
    }
    kube = _client(server, certs, user)
    review = kube.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body={})
    assert review["status"]["userInfo"]["username"] == "jane"
    assert kube.key_file is not None
    assert stat.S_IMODE(os.stat(kube.key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(Path(kube.key_file).parent).st_mode) == 0o700


def test_client_certificate_from_files(
    server: Server, certs: Certificates, client_cert: tuple[Path, Path]
) -> None:
    crt, key = client_cert
    cluster = {"server": server.url, "certificate-authority": str(certs.ca_cert)}
    user = {"client-certificate": crt.name, "client-key": key.name}
    # Relative to the directory of the kubeconfig that defines the user.
    kube = KubeHttp.from_entries(cluster, user, Path("/"), crt.parent)
    assert kube.cert_file == str(crt)
    kube.request("GET", "/ok")
    assert server.seen[0].client_cn == "jane"
    with pytest.raises(Unsupported):  # the Kubernetes client then says what is wrong
        KubeHttp.from_entries(cluster, user, Path("/"), Path("/"))


def test_token_file_is_read(server: Server, certs: Certificates, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    cluster = {"server": server.url, "certificate-authority": str(certs.ca_cert)}
    kube = KubeHttp.from_entries(cluster, {"tokenFile": "token"}, Path("/"), tmp_path)
    kube.request("GET", "/ok")
    assert server.seen[0].headers["authorization"] == ["Bearer from-file"]


def _exec_plugin(tmp_path: Path, expires: str | None) -> tuple[dict[str, Any], Path]:
    """A credential plugin printing a token built from its argument and environment;
    each run appends a line to a file, so the test can count the runs."""
    runs = tmp_path / "runs"
    script = tmp_path / "credential.py"
    status: dict[str, Any] = {"token": "PLACEHOLDER"}
    if expires:
        status["expirationTimestamp"] = expires
    script.write_text(
        "import json, os, sys\n"
        f"open({str(runs)!r}, 'a').write(os.environ['KUBERNETES_EXEC_INFO'] + '\\n')\n"
        f"status = {status!r}\n"
        "status['token'] = sys.argv[1] + '-' + os.environ['TEAM']\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',"
        " 'kind': 'ExecCredential', 'status': status}))\n"
    )
    entry = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script), "exec"],
            "env": [{"name": "TEAM", "value": "sre"}],
            "interactiveMode": "Never",
        }
    }
    return entry, runs


def test_an_exec_plugin_runs_once_while_its_credential_lasts(
    server: Server, certs: Certificates, tmp_path: Path
) -> None:
    user, runs = _exec_plugin(tmp_path, "2999-01-01T00:00:00Z")
    kube = _client(server, certs, user)
    kube.request("GET", "/ok")
    kube.request("GET", "/ok")
    assert [seen.headers["authorization"] for seen in server.seen] == [["Bearer exec-sre"]] * 2
    (info,) = runs.read_text().splitlines()
    assert json.loads(info)["kind"] == "ExecCredential"


def test_an_expired_exec_credential_is_asked_for_again(
    server: Server, certs: Certificates, tmp_path: Path
) -> None:
    user, runs = _exec_plugin(tmp_path, "2000-01-01T00:00:00Z")
    kube = _client(server, certs, user)
    kube.request("GET", "/ok")
    kube.request("GET", "/ok")
    assert len(runs.read_text().splitlines()) == 2


def test_a_watch_yields_its_lines_and_keeps_the_connection(
    server: Server, certs: Certificates
) -> None:
    kube = _client(server, certs, {"token": "t"})
    events = list(kube.stream("/watch", {"watch": "true"}))
    assert events == [{"type": "ADDED", "object": {"n": 1}}, {"type": "ADDED", "object": {"n": 2}}]
    kube.request("GET", "/ok")
    assert len({seen.peer for seen in server.seen}) == 1


def test_a_watch_left_early_closes_its_connection(server: Server, certs: Certificates) -> None:
    kube = _client(server, certs, {"token": "t"})
    for _ in kube.stream("/watch"):
        break
    assert kube._connection is None
    kube.request("GET", "/ok")


@pytest.mark.parametrize(
    "user",
    [
        {"auth-provider": {"name": "oidc"}},
        {"username": "a", "password": "b"},
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}},
        {"client-certificate-data": "bm90IGJhc2U2NA!!", "client-key-data": "eA=="},
        {"client-certificate": "/only/the/cert"},
    ],
)
def test_what_it_does_not_handle_is_unsupported(user: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        KubeHttp.from_entries({"server": "https://127.0.0.1:1"}, user, Path("/"), Path("/"))


@pytest.mark.parametrize(
    "cluster",
    [
        {"server": "http://127.0.0.1:8080"},
        {"server": "https://127.0.0.1:1/?query"},
        {"server": "https://127.0.0.1:1", "proxy-url": "socks5://127.0.0.1:1080"},
        {"server": "https://127.0.0.1:1", "certificate-authority": "/nowhere/ca.crt"},
    ],
)
def test_a_cluster_it_does_not_handle_is_unsupported(cluster: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        KubeHttp.from_entries(cluster, {}, Path("/"), Path("/"))


def test_tls_server_name_is_the_name_verified(server: Server, certs: Certificates) -> None:
    named = {"server": server.url, "certificate-authority": str(certs.ca_cert)}
    ok = KubeHttp.from_entries({**named, "tls-server-name": "kubernetes"}, {}, Path(), Path())
    ok.request("GET", "/ok")
    wrong = KubeHttp.from_entries({**named, "tls-server-name": "other.test"}, {}, Path(), Path())
    with pytest.raises(KubeUnreachable) as raised:
        wrong.request("GET", "/ok")
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)


class _ConnectProxy:
    """An http proxy on 127.0.0.1 that tunnels CONNECT and records each target."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.targets: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            reader = client.makefile("rb")
            target = reader.readline().split()[1].decode()
            while reader.readline() not in (b"\r\n", b""):
                pass
            self.targets.append(target)
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        sink.close()


def test_an_http_proxy_tunnels_the_connection(server: Server, certs: Certificates) -> None:
    proxy = _ConnectProxy()
    cluster = {
        "server": server.url,
        "certificate-authority": str(certs.ca_cert),
        "proxy-url": f"http://127.0.0.1:{proxy.port}",
    }
    kube = KubeHttp.from_entries(cluster, {"token": "t"}, Path(), Path())
    assert kube.request("GET", "/ok") == {"path": "/ok"}
    assert kube.request("GET", "/ok") == {"path": "/ok"}
    assert proxy.targets == [server.url.removeprefix("https://")]
    proxy.listener.close()


# Errors, described as the Kubernetes client's are.

SOURCE = Kubeconfig(
    paths=(Path("/home/me/.kube/config"),),
    context="prod",
    namespace=None,
    cluster="prod",
    server="https://127.0.0.1:6443",
    ca="the CA CN=prod-ca in /home/me/ca.crt",
)


def test_an_error_answer_is_the_servers_message(server: Server, certs: Certificates) -> None:
    kube = _client(server, certs, {"token": "t"})
    with pytest.raises(KubeApiError) as raised:
        kube.request("GET", "/missing")
    assert (raised.value.status, raised.value.reason) == (404, "Not Found")
    assert raised.value.headers["Content-Type"] == "application/json"
    assert describe(raised.value, SOURCE) == 'incidents "x" not found'
    unauthorized = KubeApiError(401, "Unauthorized", '{"message": "Unauthorized"}', {})
    assert describe(unauthorized, SOURCE) == (
        "the API server https://127.0.0.1:6443 refused the credentials of context 'prod' in "
        "/home/me/.kube/config: Unauthorized"
    )


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_network_failures_are_described_as_today(certs: Certificates, tmp_path: Path) -> None:
    via = "(context 'prod' in /home/me/.kube/config)"
    refused = KubeHttp.from_entries(
        {"server": f"https://127.0.0.1:{_unused_port()}", "insecure-skip-tls-verify": True},
        {},
        Path(),
        Path(),
    )
    with pytest.raises(KubeUnreachable) as raised:
        refused.request("GET", "/ok")
    assert describe(raised.value, SOURCE) == (
        f"the API server https://127.0.0.1:6443 refused the connection {via}: is it running?"
    )
    with socket.socket() as silent:  # listening, never accepting: TLS never starts
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        cluster = {"server": f"https://127.0.0.1:{silent.getsockname()[1]}"}
        mute = KubeHttp.from_entries(cluster, {}, Path(), Path(), timeout=0.3)
        with pytest.raises(KubeUnreachable) as raised:
            mute.request("GET", "/ok")
    assert describe(raised.value, SOURCE) == (
        f"the API server https://127.0.0.1:6443 did not answer in time {via}; see --request-timeout"
    )


def test_a_certificate_from_another_ca_names_the_ca(server: Server, tmp_path: Path) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "1", "-keyout", "other.key", "-out", "other.crt", "-subj", "/CN=other-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        cwd=tmp_path,
    )  # fmt: skip
    cluster = {"server": server.url, "certificate-authority": str(tmp_path / "other.crt")}
    kube = KubeHttp.from_entries(cluster, {}, Path(), Path())
    with pytest.raises(KubeUnreachable) as raised:
        kube.request("GET", "/ok")
    line = describe(raised.value, SOURCE)
    assert line.startswith(
        "the certificate of the API server https://127.0.0.1:6443 did not verify against "
        "the CA CN=prod-ca in /home/me/ca.crt: "  # then OpenSSL's own reason
    ), line
    assert "certificate" in line.removeprefix(line.split(": ")[0]), line


def test_a_failing_exec_plugin_names_the_kubeconfig(server: Server, certs: Certificates) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": ["-c", "import sys; sys.exit('login expired')"],
        }
    }
    kube = _client(server, certs, user)
    with pytest.raises(CredentialError) as raised:
        kube.request("GET", "/ok")
    assert describe(raised.value, SOURCE) == (
        f"kubeconfig /home/me/.kube/config: exec plugin {sys.executable} exited with 1: "
        "login expired"
    )


# Cluster: its own client when it can, the Kubernetes client when it cannot.


def _kubeconfig(path: Path, server: Server, certs: Certificates, user: dict[str, Any]) -> Path:
    cluster = {"server": server.url, "certificate-authority": str(certs.ca_cert)}
    context = {"cluster": "local", "user": "me", "namespace": "shop"}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": cluster}],
                "users": [{"name": "me", "user": user}],
                "contexts": [{"name": "here", "context": context}],
                "current-context": "here",
            }
        )
    )
    return path


def test_cluster_uses_its_own_client_and_asks_who_i_am_once(
    server: Server, certs: Certificates, tmp_path: Path
) -> None:
    path = _kubeconfig(tmp_path / "config", server, certs, {"token": "t"})
    cluster = Cluster.connect(str(path), None, None, impersonate="jane", groups=["sre"])
    assert isinstance(cluster.transport, KubeHttp)
    assert cluster.whoami() == cluster.whoami() == "Bearer t"
    assert cluster.read_configmap("settings") == {}
    assert [seen.method for seen in server.seen] == ["POST", "GET"]
    assert server.seen[1].path == "/api/v1/namespaces/shop/configmaps/settings"
    assert server.seen[1].headers["impersonate-group"] == ["sre"]


def test_cluster_falls_back_to_the_kubernetes_client(
    server: Server, certs: Certificates, tmp_path: Path
) -> None:
    from incident_operator.adapters.client_transport import ClientTransport

    user = {"username": "a", "password": "b"}
    path = _kubeconfig(tmp_path / "config", server, certs, user)
    cluster = Cluster.connect(str(path), None, None)
    assert isinstance(cluster.transport, ClientTransport)
    assert cluster.read_policy("missing") is not None  # the server answers every GET
    with pytest.raises(KubeApiError):
        cluster.request("GET", "/missing")
    assert server.seen[0].headers["authorization"][0].startswith("Basic ")


def test_a_connection_is_not_made_for_nothing(certs: Certificates, tmp_path: Path) -> None:
    """Connecting reads the kubeconfig only: a command that fails first costs no request."""
    path = tmp_path / "config"
    _kubeconfig(path, Server(f"https://127.0.0.1:{_unused_port()}"), certs, {"token": "t"})
    cluster = Cluster.connect(str(path), None, None)
    assert isinstance(cluster.transport, KubeHttp)
    assert cluster.transport._connection is None


def test_the_subprocess_imports_of_a_request(
    server: Server, certs: Certificates, tmp_path: Path
) -> None:
    """A whole request through Cluster imports neither the Kubernetes client nor pydantic."""
    path = _kubeconfig(tmp_path / "config", server, certs, {"token": "t"})
    code = (
        "import sys\n"
        "from incident_operator.cli.cluster import Cluster\n"
        f"cluster = Cluster.connect({str(path)!r}, None, None)\n"
        "print(cluster.whoami())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kubernetes', 'pydantic', 'urllib3', 'jinja2')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == ["Bearer t", "[]"]


def _unreachable(connecting: bool, cause: BaseException) -> KubeUnreachable:
    error = KubeUnreachable("https://127.0.0.1:6443", connecting)
    error.__cause__ = cause
    return error


VIA = "(context 'prod' in /home/me/.kube/config)"
SERVER = "the API server https://127.0.0.1:6443"
# The own client's failures and the line urllib3's equivalent gets (test_cli_failures.py).
UNREACHABLE = {
    "refused": (
        _unreachable(True, ConnectionRefusedError(111, "Connection refused")),
        f"{SERVER} refused the connection {VIA}: is it running?",
    ),
    "no-route": (
        _unreachable(True, OSError(113, "No route to host")),
        f"cannot connect to {SERVER} {VIA}: No route to host",
    ),
    "name-resolution": (
        _unreachable(True, socket.gaierror(-2, "Name or service not known")),
        f"cannot resolve the API server's host https://127.0.0.1:6443 {VIA}",
    ),
    "connect-timeout": (
        _unreachable(True, TimeoutError("timed out")),
        f"{SERVER} did not accept the connection in time {VIA}",
    ),
    "read-timeout": (
        _unreachable(False, TimeoutError("timed out")),
        f"{SERVER} did not answer in time {VIA}; see --request-timeout",
    ),
    "other-tls": (
        _unreachable(False, ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version")),
        f"TLS with {SERVER} failed {VIA}: [SSL: WRONG_VERSION_NUMBER] wrong version",
    ),
    "reset": (
        _unreachable(False, ConnectionResetError(104, "Connection reset by peer")),
        f"{SERVER} broke off the connection {VIA}: Connection reset by peer",
    ),
    "closed": (
        _unreachable(False, Disconnected("Remote end closed connection without response")),
        f"{SERVER} broke off the connection {VIA}: Remote end closed connection without response",
    ),
}


@pytest.mark.parametrize(("error", "line"), UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_each_network_failure_reads_as_the_kubernetes_clients(
    error: KubeUnreachable, line: str
) -> None:
    assert describe(error, SOURCE) == line


def test_threads_each_have_their_own_connection(server: Server, certs: Certificates) -> None:
    """The dashboard asks from a thread pool: answers never cross between threads."""
    kube = _client(server, certs, {"token": "t"})
    answers: dict[int, list[Any]] = {}

    def ask(number: int) -> None:
        answers[number] = [kube.request("GET", f"/n{number}-{i}") for i in range(10)]

    threads = [threading.Thread(target=ask, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == {n: [{"path": f"/n{n}-{i}"} for i in range(10)] for n in range(4)}
    assert len({seen.peer for seen in server.seen}) == 4
