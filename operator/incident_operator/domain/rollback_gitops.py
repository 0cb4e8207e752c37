"""Which GitOps tool owns a workload, from the labels and annotations the tools stamp.

A rollback made behind Argo CD's or Flux's back does not last: Argo CD's self-heal, or
Flux's next reconciliation, puts the Git version back (or, without self-heal, the app
just shows OutOfSync and the next sync undoes the rollback). So a rollback of such a
workload is refused with the tool's name and what to do instead, unless the policy
allows it.

The marks, most specific first:

==========================================  =========================================
``argocd.argoproj.io/tracking-id`` (ann.)   Argo CD, annotation tracking (the default
                                            since Argo CD 3.0): ``app:group/kind:ns/name``
``argocd.argoproj.io/instance`` (label)     Argo CD, with that custom tracking label
``kustomize.toolkit.fluxcd.io/name`` (l.)   Flux, applied by a Kustomization
``helm.toolkit.fluxcd.io/name`` (label)     Flux, installed by a HelmRelease
==========================================  =========================================

Argo CD's old label tracking uses ``app.kubernetes.io/instance``, which is also the
recommended label every Helm chart and many plain manifests set; it is not taken as a
sign of Argo CD (a rollback there is allowed). A Flux Kustomization skips objects
annotated ``kustomize.toolkit.fluxcd.io/reconcile: disabled``; such a workload is not
treated as managed, since Flux will leave the rollback alone.
"""

from collections.abc import Mapping
from dataclasses import dataclass

ARGO_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ARGO_INSTANCE = "argocd.argoproj.io/instance"
FLUX_KUSTOMIZE_NAME = "kustomize.toolkit.fluxcd.io/name"
FLUX_KUSTOMIZE_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
FLUX_HELM_NAME = "helm.toolkit.fluxcd.io/name"
FLUX_HELM_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
FLUX_RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"

_ALLOW = "set spec.rollback.allowGitOpsManaged: true in the EscalationPolicy"


@dataclass(frozen=True)
class GitOpsOwner:
    # "Argo CD" or "Flux".
    tool: str
    # The object that owns the workload there, e.g. "Application checkout".
    owner: str
    # What to do instead of an imperative rollback.
    advice: str


def _flux_object(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def gitops_owner(labels: Mapping[str, str], annotations: Mapping[str, str]) -> GitOpsOwner | None:
    """The GitOps tool managing an object with these labels and annotations, or None."""
    tracking = annotations.get(ARGO_TRACKING_ID) or ""
    argo_app = tracking.split(":", 1)[0] if tracking else labels.get(ARGO_INSTANCE)
    if argo_app:
        return GitOpsOwner(
            "Argo CD",
            f"Application {argo_app}",
            "revert the change in Git and let Argo CD sync it (that is the rollback), or "
            f"turn off automated sync for Application {argo_app} and {_ALLOW}",
        )
    kustomization = labels.get(FLUX_KUSTOMIZE_NAME)
    if kustomization and annotations.get(FLUX_RECONCILE) != "disabled":
        owner = _flux_object("Kustomization", kustomization, labels.get(FLUX_KUSTOMIZE_NAMESPACE))
        return GitOpsOwner(
            "Flux",
            owner,
            "revert the change in Git and let Flux apply it (that is the rollback), or "
            f"annotate the workload {FLUX_RECONCILE}=disabled so Flux leaves it alone "
            "and approve again",
        )
    release = labels.get(FLUX_HELM_NAME)
    if release:
        owner = _flux_object("HelmRelease", release, labels.get(FLUX_HELM_NAMESPACE))
        return GitOpsOwner(
            "Flux",
            owner,
            "revert the chart version or values in Git and let Flux upgrade (that is the "
            f"rollback), or suspend it (flux suspend helmrelease {release}) and {_ALLOW}",
        )
    return None


def refusal_message(workload: str, owner: GitOpsOwner) -> str:
    return (
        f"{workload} is managed by {owner.tool} ({owner.owner}); a rollback here would be "
        f"undone by its next sync. To roll back: {owner.advice}"
    )
