"""The `kubectl incident` plugin for responders."""
