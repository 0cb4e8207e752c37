"""incident-operator: an SRE incident response runbook as Kubernetes behaviour."""

__version__ = "0.1.0"
