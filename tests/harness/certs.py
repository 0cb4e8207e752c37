"""Certificates and keys for the API server, made with the openssl command line.

(The ``cryptography`` package is not a dependency of the project; openssl is on
every Debian machine.)
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificates:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_pub: Path
    front_proxy_ca_cert: Path


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make the test certificates")
    result = subprocess.run(
        [openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def generate(directory: Path) -> Certificates:
    """A CA, a serving certificate for 127.0.0.1 signed by it, and a service-account keypair."""
    directory.mkdir(parents=True, exist_ok=True)
    certs = Certificates(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        service_account_key=directory / "sa.key",
        service_account_pub=directory / "sa.pub",
        front_proxy_ca_cert=directory / "front-proxy-ca.crt",
    )
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        "-keyout", certs.ca_key.name, "-out", certs.ca_cert.name,
        "-subj", "/CN=incident-operator-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=directory,
    )  # fmt: skip
    (directory / "serving.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
    )
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes",
        "-keyout", certs.serving_key.name, "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "apiserver.csr", "-days", "30",
        "-CA", certs.ca_cert.name, "-CAkey", certs.ca_key.name, "-CAcreateserial",
        "-extfile", "serving.ext", "-out", certs.serving_cert.name,
        cwd=directory,
    )  # fmt: skip
    _openssl("genrsa", "-out", certs.service_account_key.name, "2048", cwd=directory)
    _openssl(
        "rsa", "-in", certs.service_account_key.name, "-pubout",
        "-out", certs.service_account_pub.name,
        cwd=directory,
    )  # fmt: skip
    # A CA of its own for --requestheader-client-ca-file, whose key is thrown away: no
    # client can present a front-proxy certificate, but the controller manager and the
    # scheduler stop complaining that the extension-apiserver-authentication ConfigMap
    # lacks one.
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        "-keyout", "front-proxy-ca.key", "-out", certs.front_proxy_ca_cert.name,
        "-subj", "/CN=incident-operator-test-front-proxy-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=directory,
    )  # fmt: skip
    (directory / "front-proxy-ca.key").unlink()
    for key in (certs.ca_key, certs.serving_key, certs.service_account_key):
        key.chmod(0o600)
    return certs
