"""What every plugin command needs before it talks to a cluster, kept light to import.

The plugin starts for every command a person types; this module imports nothing heavy,
so ``kubectl incident --help`` and the parsing of any command stay fast (see
``main``: the Kubernetes client and the models are imported by the command run).
"""

from datetime import UTC, datetime

from incident_operator.adapters.refusals import ActionRefused

# Seconds to wait for the API server on each request (--request-timeout); 0 waits forever.
DEFAULT_TIMEOUT = 30.0


# An error the person can act on; printed as it is, without a traceback. The same
# exception as the shared actions' refusals (adapters/incident_actions.py), so theirs
# print exactly as the plugin's own.
PluginError = ActionRefused


def utcnow() -> datetime:
    return datetime.now(UTC)
