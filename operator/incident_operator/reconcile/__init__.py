"""Decisions over the API types: pure functions from (object, clock, policy) to new status.

Like the domain, nothing here talks to Kubernetes or the network; unlike the domain, it
knows the API models. Handlers read, call these, and write the difference.
"""
