"""Small, replaceable adapters to the outside: the Kubernetes API, Prometheus, notifiers."""
