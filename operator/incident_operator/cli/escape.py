"""Text from the cluster made safe to print on a terminal (domain/escape.py: the plugin
and the Slack actions, which share the plugin's messages, escape the same way)."""

from incident_operator.domain.escape import escape, escape_block

__all__ = ["escape", "escape_block"]
