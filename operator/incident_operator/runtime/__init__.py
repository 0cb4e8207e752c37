"""The operator's running services: the incident pipeline, detection, the policy registry,
the deadline timer. kopf's registrations in handlers/ delegate here in a line or two."""
