"""The refusal people are shown as it is: the plugin prints it on one line, Slack shows it
ephemerally. Its own module, importing nothing, so the plugin's start-up stays light."""


class ActionRefused(Exception):
    """An action refused with a message the person can act on (the plugin prints it as
    it is; Slack shows it ephemerally)."""
