"""The API types of both kinds as pydantic models; the CRDs in crds/ are rendered from them."""

GROUP = "sre.agentos.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "incident-response"
