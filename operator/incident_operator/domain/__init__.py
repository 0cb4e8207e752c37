"""The pure domain core.

Nothing here imports kopf, Kubernetes, HTTP or Prometheus clients, and nothing reads
the clock: every function that depends on time takes ``now`` as an argument. That keeps
the runbook's rules testable in milliseconds with parametrized tables.
"""
