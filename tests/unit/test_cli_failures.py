"""Every failure of the plugin as one line: the error-to-line mapping, the kubeconfig
checks, and ``main`` run in-process (exit codes, stderr, --debug)."""

import base64
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import urllib3
import urllib3.exceptions as http
import yaml
from kubernetes import client, config

from incident_operator.cli import main as plugin
from incident_operator.cli.cluster import Cluster
from incident_operator.cli.failures import PluginError, describe, one_line
from incident_operator.cli.kubeconfig import (
    Kubeconfig,
    KubeconfigError,
    kubeconfig_paths,
    read_kubeconfig,
)

SERVER = "https://127.0.0.1:6443"
SOURCE = Kubeconfig(
    paths=(Path("/home/me/.kube/config"),),
    context="prod",
    namespace=None,
    cluster="prod",
    server=SERVER,
    ca="the CA CN=prod-ca in certificate-authority-data of cluster 'prod' in /home/me/.kube/config",
)
POOL = urllib3.HTTPSConnectionPool("127.0.0.1", 6443)
CONNECTION = urllib3.connection.HTTPSConnection("127.0.0.1", 6443)
URL = "/apis/sre.agentos.io/v1alpha1/namespaces/default/incidents"


def _caused(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


def _retried(reason: Exception) -> http.MaxRetryError:
    """As urllib3 raises it once its retries are spent."""
    return http.MaxRetryError(POOL, URL, reason)


def _verification(message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_message = message
    return error


def _api(status: int, reason: str, body: str | None) -> client.ApiException:
    error = client.ApiException(status=status, reason=reason)
    error.body = body
    return error


REFUSED = _caused(
    http.NewConnectionError(CONNECTION, "Failed to establish a new connection"),
    ConnectionRefusedError(111, "Connection refused"),
)
UNREACHABLE = _caused(
    http.NewConnectionError(CONNECTION, "Failed to establish a new connection"),
    OSError(113, "No route to host"),
)

# error, what the line must contain, and what it must not (a source is passed unless None).
CASES: dict[str, tuple[BaseException, Kubeconfig | None, tuple[str, ...]]] = {
    "plugin-error": (PluginError("no incident 'x' in namespace shop"), SOURCE, ("no incident",)),
    "kubeconfig-error": (
        KubeconfigError("kubeconfig /k does not exist"),
        None,
        ("kubeconfig /k does not exist",),
    ),
    "refused": (
        _retried(cast(Exception, REFUSED)),
        SOURCE,
        (SERVER, "refused the connection", "'prod'", "/home/me/.kube/config"),
    ),
    "refused-without-source": (
        _retried(cast(Exception, REFUSED)),
        None,
        ("https://127.0.0.1:6443", "refused the connection"),
    ),
    "no-route": (_retried(cast(Exception, UNREACHABLE)), SOURCE, (SERVER, "No route to host")),
    "name-resolution": (
        _retried(
            http.NameResolutionError("api.invalid", CONNECTION, socket.gaierror(-2, "not known"))
        ),
        SOURCE,
        ("cannot resolve", SERVER),
    ),
    "connect-timeout": (
        _retried(http.ConnectTimeoutError(CONNECTION, "timed out")),
        SOURCE,
        (SERVER, "did not accept the connection in time"),
    ),
    "read-timeout-retried": (
        _retried(http.ReadTimeoutError(POOL, URL, "Read timed out.")),
        SOURCE,
        (SERVER, "did not answer in time", "--request-timeout"),
    ),
    "read-timeout": (
        http.ReadTimeoutError(POOL, URL, "Read timed out."),
        SOURCE,
        (SERVER, "did not answer in time"),
    ),
    "certificate": (
        _retried(http.SSLError(_verification("unable to get local issuer certificate"))),
        SOURCE,
        (SERVER, "did not verify against", "CN=prod-ca", "unable to get local issuer certificate"),
    ),
    "hostname": (
        _retried(http.SSLError(_verification("Hostname mismatch, certificate is not valid"))),
        SOURCE,
        ("did not verify", "Hostname mismatch"),
    ),
    "other-tls": (
        _retried(http.SSLError(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version"))),
        SOURCE,
        ("TLS with the API server", SERVER, "WRONG_VERSION_NUMBER"),
    ),
    "reset": (
        _retried(
            http.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))
        ),
        SOURCE,
        (SERVER, "broke off the connection", "reset by peer"),
    ),
    "unauthorized": (
        _api(401, "Unauthorized", '{"message": "Unauthorized"}'),
        SOURCE,
        ("refused the credentials", "'prod'", "Unauthorized"),
    ),
    "forbidden": (
        _api(403, "Forbidden", '{"message": "incidents is forbidden: User \\"bob\\" cannot"}'),
        SOURCE,
        ('incidents is forbidden: User "bob" cannot',),
    ),
    "api-without-body": (_api(503, "Service Unavailable", None), SOURCE, ("503 Service",)),
    "config-exception": (
        config.ConfigException("Invalid kube-config file. Expected key users"),
        SOURCE,
        ("kubeconfig /home/me/.kube/config", "Expected key users"),
    ),
    "yaml": (yaml.YAMLError("bad\nyaml"), None, ("not valid YAML", "bad yaml")),
    "file": (PermissionError(13, "Permission denied", "/k"), SOURCE, ("/k: Permission denied",)),
    "interrupted": (KeyboardInterrupt(), SOURCE, ("interrupted",)),
    "unforeseen": (
        RuntimeError("boom\n  at the second line"),
        SOURCE,
        ("unexpected RuntimeError: boom at the second line", "--debug"),
    ),
    "hostile-message": (
        PluginError("the rollback is refused: \x1b[31mred\x07"),
        SOURCE,
        ("refused: \\x1b[31mred\\x07",),
    ),
}


@pytest.mark.parametrize(("error", "source", "expected"), CASES.values(), ids=CASES.keys())
def test_describe(
    error: BaseException, source: Kubeconfig | None, expected: tuple[str, ...]
) -> None:
    line = describe(error, source)
    assert "\n" not in line
    assert not [c for c in line if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0], repr(line)
    for fragment in expected:
        assert fragment in line, f"{fragment!r} not in {line!r}"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("one line", "one line"),
        ("two\nlines", "two lines"),
        ("  indented\n  block\r\n", "indented block"),
        ("tab\tkept apart", "tab\\tkept apart"),
        ("\x1b[1mbold", "\\x1b[1mbold"),
    ],
)
def test_one_line(text: str, line: str) -> None:
    assert one_line(text) == line


# ---------------------------------------------------------------------------- kubeconfig


def _config(server: str = SERVER, current: str | None = "main", **cluster: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "main", "context": {"cluster": "c", "user": "u"}},
            {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "shop"}},
            {"name": "dangling", "context": {"cluster": "gone", "user": "u"}},
        ],
    }
    if current:
        document["current-context"] = current
    return document


BROKEN: dict[str, tuple[str | None, str | None, tuple[str, ...]]] = {
    "missing": (None, None, ("does not exist",)),
    "empty": ("", None, ("is empty",)),
    "not-yaml": ("clusters: [\n  - a\n b: :\n", None, ("is not valid YAML", "line ")),
    "tab-indented": ("clusters:\n\t- name: c\n", None, ("is not valid YAML", "line 2, column 1")),
    "a-list": ("- a\n- b\n", None, ("is not a kubeconfig", "list")),
    "a-string": ("hello\n", None, ("is not a kubeconfig", "str")),
    "unknown-context": (yaml.safe_dump(_config()), "nope", ("no context 'nope'", "main, other")),
    "no-current-context": (
        yaml.safe_dump(_config(current=None)),
        None,
        ("sets no current-context", "--context"),
    ),
    "undefined-cluster": (yaml.safe_dump(_config()), "dangling", ("cluster 'gone'",)),
    "missing-ca-file": (
        yaml.safe_dump(_config(**{"certificate-authority": "ca.crt"})),
        None,
        ("certificate-authority", "ca.crt", "does not exist"),
    ),
}


@pytest.mark.parametrize(("text", "context", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_kubeconfig_names_the_file_and_the_problem(
    tmp_path: Path, text: str | None, context: str | None, expected: tuple[str, ...]
) -> None:
    path = tmp_path / "kubeconfig"
    if text is not None:
        path.write_text(text)
    with pytest.raises(KubeconfigError) as raised:
        read_kubeconfig(str(path), {}, context)
    line = describe(raised.value)
    assert str(path) in line
    for fragment in expected:
        assert fragment in line, f"{fragment!r} not in {line!r}"


def test_an_unreadable_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match=f"kubeconfig {tmp_path} cannot be read"):
        read_kubeconfig(str(tmp_path), {}, None)


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        ("/a/k", {"KUBECONFIG": "/b/k"}, ["/a/k"]),
        (None, {"KUBECONFIG": "/b/k:/c/k"}, ["/b/k", "/c/k"]),
        (None, {"KUBECONFIG": ":/b/k:"}, ["/b/k"]),
        (None, {}, [str(Path("~/.kube/config").expanduser())]),
        (None, {"KUBECONFIG": ""}, [str(Path("~/.kube/config").expanduser())]),
    ],
)
def test_kubeconfig_paths(
    explicit: str | None, environ: dict[str, str], expected: list[str]
) -> None:
    assert [str(path) for path in kubeconfig_paths(explicit, environ)] == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"KUBECONFIG": "/no/a"}, "kubeconfig /no/a (from $KUBECONFIG) does not exist"),
        ({"KUBECONFIG": "/no/a:/no/b"}, "none of the kubeconfig files in $KUBECONFIG exist"),
        ({"HOME": "/no/home"}, "pass --kubeconfig or set KUBECONFIG"),
    ],
)
def test_a_missing_kubeconfig_says_where_it_was_looked_for(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: str
) -> None:
    monkeypatch.setenv("HOME", "/no/home")
    with pytest.raises(KubeconfigError, match=re.escape(expected)):
        read_kubeconfig(None, environ, None)


def test_files_in_kubeconfig_merge_first_wins_and_missing_ones_are_skipped(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(yaml.safe_dump({"current-context": "other", "clusters": []}))
    second.write_text(yaml.safe_dump(_config()))
    listed = f"{first}:{tmp_path / 'absent'}:{second}"
    found = read_kubeconfig(None, {"KUBECONFIG": listed}, None)
    assert found.paths == (first, second)
    assert (found.context, found.namespace, found.cluster) == ("other", "shop", "c")


@pytest.mark.parametrize(
    ("entry", "ca"),
    [
        ({}, "the system's trusted CAs"),
        ({"insecure-skip-tls-verify": True}, "nothing (insecure-skip-tls-verify is set)"),
        (
            {"certificate-authority-data": "bm90IGEgY2VydA=="},
            "the CA in certificate-authority-data of cluster 'c' in {path}",
        ),
        (
            {"certificate-authority-data": "***"},
            "the CA in certificate-authority-data of cluster 'c' in {path}",
        ),
    ],
)
def test_what_the_server_certificate_is_checked_against(
    tmp_path: Path, entry: dict[str, Any], ca: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(_config(**entry)))
    found = read_kubeconfig(str(path), {}, None)
    assert found.ca == ca.format(path=path)
    assert (found.server, found.context, found.namespace) == (SERVER, "main", None)


def _ca(directory: Path, name: str) -> Path:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl makes the test CA")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-keyout", "ca.key", "-out", "ca.crt", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        cwd=directory, capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    return directory / "ca.crt"


def test_the_ca_is_named_by_its_subject(tmp_path: Path) -> None:
    ca = _ca(tmp_path, "team-ca")
    inline, by_file = tmp_path / "inline", tmp_path / "by-file"
    data = base64.b64encode(ca.read_bytes()).decode()
    inline.write_text(yaml.safe_dump(_config(**{"certificate-authority-data": data})))
    by_file.write_text(yaml.safe_dump(_config(**{"certificate-authority": "ca.crt"})))
    assert read_kubeconfig(str(inline), {}, None).ca == (
        f"the CA CN=team-ca in certificate-authority-data of cluster 'c' in {inline}"
    )
    assert read_kubeconfig(str(by_file), {}, None).ca == f"the CA CN=team-ca in {ca}"


# ---------------------------------------------------------------------------------- main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = plugin.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def test_main_prints_one_line_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "kubeconfig"
    code, out, err = _run(capsys, "--kubeconfig", str(missing), "list")
    assert (code, out, err) == (1, [], [f"error: kubeconfig {missing} does not exist"])


def test_debug_prints_the_traceback_before_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "kubeconfig"
    code, _, err = _run(capsys, "--kubeconfig", str(missing), "--debug", "list")
    assert code == 1
    assert err[0] == "Traceback (most recent call last):"
    assert err[-1] == f"error: kubeconfig {missing} does not exist"


def test_debug_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = _run(capsys, "--kubeconfig", str(tmp_path / "k"), "show", "--debug", "INC-1")
    assert err[0] == "Traceback (most recent call last):"


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus", "list"],
        ["list", "extra"],
        ["frobnicate"],
        [],
        ["severity", "INC-1", "P9"],
        ["--request-timeout", "-1", "list"],
        ["--request-timeout", "nan", "list"],
        ["--request-timeout", "soon", "list"],
    ],
)
def test_a_usage_error_is_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        plugin.main(argv)
    err = capsys.readouterr().err.splitlines()
    assert exited.value.code == 2
    assert len(err) == 1
    assert err[0].startswith("error: ")
    assert err[0].endswith("--help`)")


class _Fake(Cluster):
    """A cluster whose every call fails, or whose user name is hostile."""

    failure: BaseException | None = None

    def whoami(self) -> str:
        if self.failure is not None:
            raise self.failure
        return "bob\x1b[2J\x07"


def _connect_to(failure: BaseException | None) -> Callable[..., Cluster]:
    def connect(*_: Any, **__: Any) -> Cluster:
        fake = _Fake(api=cast(client.ApiClient, None), namespace="shop", source=SOURCE)
        fake.failure = failure
        return fake

    return connect


@pytest.mark.parametrize(
    ("failure", "code", "line"),
    [
        (
            _retried(cast(Exception, REFUSED)),
            1,
            f"error: the API server {SERVER} refused the connection (context 'prod' in "
            "/home/me/.kube/config): is it running?",
        ),
        (RuntimeError("boom"), 1, "error: unexpected RuntimeError: boom (run with --debug"),
        (KeyboardInterrupt(), 130, "error: interrupted"),
    ],
)
def test_main_maps_what_a_command_raises(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failure: BaseException,
    code: int,
    line: str,
) -> None:
    monkeypatch.setattr(Cluster, "connect", _connect_to(failure))
    got, out, err = _run(capsys, "whoami")
    assert (got, out, len(err)) == (code, [], 1)
    assert err[0].startswith(line)


def test_main_escapes_what_the_cluster_says(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Cluster, "connect", _connect_to(None))
    assert _run(capsys, "whoami") == (0, ["bob\\x1b[2J\\x07"], [])
