"""Hypothesis profiles for the property-based tests.

``ci`` (the default, what ``make test`` runs) keeps the whole suite within about a
minute, API server sampling included; ``fuzz`` (``make fuzz``) runs thousands of
examples per property; ``dev`` is ``ci`` with hypothesis' own output, for a look at the
examples. Choose with HYPOTHESIS_PROFILE.
"""

import os
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, Verbosity, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

# Hypothesis' own files (failing examples, replayed first on the next run, and caches)
# go beside pytest's cache, which git ignores, not into a new .hypothesis/.
_HOME = Path(__file__).parents[2] / ".pytest_cache" / "hypothesis"
set_hypothesis_home_dir(_HOME)
_EXAMPLES = DirectoryBasedExampleDatabase(_HOME / "examples")
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=timedelta(seconds=5),
    database=_EXAMPLES,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    database=_EXAMPLES,
    print_blob=True,
    suppress_health_check=[*_SLOW_IS_FINE, HealthCheck.filter_too_much],
)
settings.register_profile(
    "dev",
    parent=settings.get_profile("ci"),
    verbosity=Verbosity.verbose,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
