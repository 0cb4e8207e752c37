"""Operator-wide kopf settings."""

import logging
from typing import Any

import kopf

ANNOTATION_PREFIX = "incident-operator.sre.agentos.io"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Our own prefix instead of kopf.zalando.org, and annotations rather than status, so
    # the progress kopf keeps is neither pruned by our schema nor mixed into our status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    # kopf's own log lines become Events only from warnings up; handlers post
    # their Events explicitly with kopf.event, which this level does not filter.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
