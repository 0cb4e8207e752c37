"""Which kubeconfig the plugin uses, checked before the Kubernetes client reads it.

The client reports a missing file as "No configuration found", raises YAML's own error
(with a traceback) for a file that is not YAML, and a TypeError for YAML that is not a
mapping. Reading the files here first turns each of these into one line that names the
file, and says where in it the YAML is broken. The client then loads the same files
(the paths are handed over explicitly, so both read the same ones).

It also records, for error messages later, which context and cluster were chosen and
what the server's certificate is checked against: the client writes
``certificate-authority-data`` to a temporary file, whose name would tell nobody which
CA it was.

Merging follows kubectl: with several files in ``$KUBECONFIG`` the first file that sets
``current-context`` wins, and the first definition of a named context or cluster wins.
Files in ``$KUBECONFIG`` that do not exist are skipped, as kubectl does, unless none do.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class KubeconfigError(Exception):
    """The kubeconfig cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Kubeconfig:
    """The kubeconfig files read and what they say about the chosen context."""

    paths: tuple[Path, ...]  # the files that exist, in the order they are merged
    context: str  # the context used: --context, or the current-context
    namespace: str | None  # the context's namespace, if it sets one
    cluster: str  # the name of the context's cluster
    server: str  # the cluster's server URL, as written
    ca: str  # what the server's certificate is verified against, for messages
    # The context's cluster and user entries and the files defining them (relative paths
    # in an entry are relative to its file), for the plugin's own client (kube_http);
    # no user entry when the context names none that is defined.
    cluster_entry: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    cluster_file: Path | None = None
    user_entry: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    user_file: Path | None = None

    @property
    def where(self) -> str:
        """The files, for messages."""
        return os.pathsep.join(str(path) for path in self.paths)


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str]) -> tuple[Path, ...]:
    """--kubeconfig, else the files in $KUBECONFIG, else ~/.kube/config."""
    if explicit:
        return (Path(explicit).expanduser().absolute(),)
    listed = environ.get("KUBECONFIG", "")
    paths = tuple(Path(part).expanduser().absolute() for part in listed.split(os.pathsep) if part)
    return paths or (Path("~/.kube/config").expanduser().absolute(),)


def read_kubeconfig(
    explicit: str | None, environ: Mapping[str, str], context: str | None
) -> Kubeconfig:
    """The kubeconfig as the plugin will use it; KubeconfigError says why it cannot."""
    candidates = kubeconfig_paths(explicit, environ)
    paths = tuple(path for path in candidates if path.exists())
    if not paths:
        raise KubeconfigError(_missing(candidates, explicit, environ))
    documents = [(path, _load(path)) for path in paths]
    where = os.pathsep.join(str(path) for path in paths)
    name = context or next(
        (str(d["current-context"]) for _, d in documents if d.get("current-context")), None
    )
    contexts = _named(documents, "contexts")
    if name is None:
        raise KubeconfigError(
            f"kubeconfig {where} sets no current-context; pass --context "
            f"(it has: {_names(contexts)})"
        )
    if name not in contexts:
        raise KubeconfigError(
            f"kubeconfig {where} has no context {name!r} (it has: {_names(contexts)})"
        )
    _, chosen = contexts[name]
    cluster_name = str(chosen.get("cluster") or "")
    clusters = _named(documents, "clusters")
    if cluster_name not in clusters:
        raise KubeconfigError(
            f"kubeconfig {where}: context {name!r} names cluster {cluster_name!r}, "
            "which is not defined there"
        )
    defined_in, cluster = clusters[cluster_name]
    namespace = chosen.get("namespace")
    users = _named(documents, "users")
    user_defined_in, user = users.get(str(chosen.get("user") or ""), (None, None))
    return Kubeconfig(
        paths=paths,
        context=name,
        namespace=str(namespace) if namespace else None,
        cluster=cluster_name,
        server=str(cluster.get("server") or ""),
        ca=_describe_ca(cluster_name, cluster, defined_in),
        cluster_entry=cluster,
        cluster_file=defined_in,
        user_entry=user if isinstance(user, dict) else None,
        user_file=user_defined_in,
    )


def _missing(candidates: tuple[Path, ...], explicit: str | None, environ: Mapping[str, str]) -> str:
    if explicit:
        return f"kubeconfig {candidates[0]} does not exist"
    if environ.get("KUBECONFIG"):
        listed = ", ".join(str(path) for path in candidates)
        if len(candidates) == 1:
            return f"kubeconfig {listed} (from $KUBECONFIG) does not exist"
        return f"none of the kubeconfig files in $KUBECONFIG exist: {listed}"
    return f"kubeconfig {candidates[0]} does not exist; pass --kubeconfig or set KUBECONFIG"


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise KubeconfigError(f"kubeconfig {path} cannot be read: {reason}") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = _yaml_problem(error)
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {problem}") from error
    if document is None:
        raise KubeconfigError(f"kubeconfig {path} is empty")
    if not isinstance(document, dict):
        raise KubeconfigError(
            f"kubeconfig {path} is not a kubeconfig: its YAML is a {type(document).__name__}, "
            "not a mapping with clusters, users and contexts"
        )
    return document


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's message in one line: the problem and where (1-based line and column)."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        context = f" ({error.context})" if error.context else ""
        return f"{error.problem}{context} at {where}"
    return " ".join(str(error).split())


def _named(documents: list[tuple[Path, dict[str, Any]]], key: str) -> dict[str, tuple[Path, Any]]:
    """The named entries of ``key`` (contexts, clusters) across the files: the first wins."""
    found: dict[str, tuple[Path, Any]] = {}
    for path, document in documents:
        entries = document.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get(key[:-1]), dict):
                found.setdefault(str(entry.get("name")), (path, entry[key[:-1]]))
    return found


def _names(entries: Mapping[str, object]) -> str:
    return ", ".join(sorted(entries)) or "none"


def _describe_ca(name: str, cluster: dict[str, Any], defined_in: Path) -> str:
    if cluster.get("insecure-skip-tls-verify"):
        return "nothing (insecure-skip-tls-verify is set)"
    data = cluster.get("certificate-authority-data")
    if data:
        try:
            pem = base64.b64decode(str(data), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            pem = ""
        subject = _ca_subjects(cadata=pem) if pem else ""
        return f"the CA{subject} in certificate-authority-data of cluster {name!r} in {defined_in}"
    file = cluster.get("certificate-authority")
    if file:
        path = Path(str(file)).expanduser()
        path = path if path.is_absolute() else defined_in.parent / path
        if not path.is_file():
            raise KubeconfigError(
                f"kubeconfig {defined_in}: the certificate-authority of cluster {name!r}, "
                f"{path}, does not exist"
            )
        return f"the CA{_ca_subjects(cafile=str(path))} in {path}"
    return "the system's trusted CAs"


def _ca_subjects(cadata: str | None = None, cafile: str | None = None) -> str:
    """' CN=...' for the CA certificates given, or '' when they cannot be read."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=cafile, cadata=cadata)
    except (ssl.SSLError, OSError, ValueError):
        return ""
    names = [_subject(certificate.get("subject", ())) for certificate in context.get_ca_certs()]
    names = [name for name in names if name]
    return f" {', '.join(names)}" if names else ""


_SHORT_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU"}


def _subject(subject: Any) -> str:
    """The certificate subject's CN (or O, or OU), as ``CN=name``."""
    pairs = {key: value for rdn in subject for key, value in rdn}
    for key, short in _SHORT_NAMES.items():
        if key in pairs:
            return f"{short}={pairs[key]}"
    return ""
