"""One retry policy: exponential backoff, capped, with jitter.

Every retry the operator schedules after something failed (a status write that raised, an
API error, a decision that raised, a notification attempt) waits by this one rule, so a
flapping API server is not hit by every incident at the same instant, and a fault that
lasts does not turn into a tight loop. Pure: the caller passes the random fraction.
"""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Backoff:
    # The wait after the first failure.
    base: timedelta
    # The longest wait, however many failures came before.
    cap: timedelta
    # Up to this fraction of the wait is taken off at random ("equal jitter" at 0.5).
    jitter: float = 0.5

    def delay(self, failures: int, fraction: float = 1.0) -> timedelta:
        """The wait after ``failures`` failures in a row (1 → about base, 2 → 2·base, …).

        ``fraction`` in [0, 1] is the caller's random draw; 1.0 gives the full wait.
        """
        exponent = min(max(failures - 1, 0), 30)
        wait: timedelta = min(self.base * (2**exponent), self.cap)
        fraction = min(max(fraction, 0.0), 1.0)
        return wait * (1 - self.jitter + self.jitter * fraction)


# After a reconcile pass failed (an API error, a refused write, a decision that raised).
RECONCILE_RETRY = Backoff(base=timedelta(seconds=1), cap=timedelta(minutes=2))
