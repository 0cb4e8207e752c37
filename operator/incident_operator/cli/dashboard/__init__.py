"""``kubectl incident dashboard``: the responders' dashboard in the browser (docs/dashboard.md)."""
