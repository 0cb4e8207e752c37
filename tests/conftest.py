# The control plane fixtures serve both tests/integration and tests/e2e.
pytest_plugins = ["tests.cluster_fixtures", "tests.browser_fixtures"]
