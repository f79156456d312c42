"""The one package logger.  Level from EMGRT_LOG_LEVEL (default WARNING)."""

import logging
import os

logger = logging.getLogger("emgrt")
logger.setLevel(os.environ.get("EMGRT_LOG_LEVEL", "WARNING").upper())


class RateLimitedWarning:
    """A warning that may repeat every chunk (NaN bursts, say), logged at most once per
    ``interval_s``: the first occurrence at once, later ones summed into the next line.

    ``message`` is a format string with ``{count}`` (the values summed since the last line)
    and ``{times}`` (the occurrences summed); :meth:`flush` logs what is still pending.
    """

    def __init__(self, message: str, interval_s: float = 10.0, clock=None) -> None:
        import time

        self.message = message
        self.interval_s = interval_s
        self._clock = clock or time.monotonic
        self._next = -float("inf")
        self._count = self._times = 0
        self.lines = 0  # lines logged so far

    def add(self, count: int = 1) -> None:
        self._count += count
        self._times += 1
        now = self._clock()
        if now >= self._next:
            self._next = now + self.interval_s
            self.flush()

    def flush(self) -> None:
        if self._times:
            more = f" ({self._times} times in the last {self.interval_s:g} s)" if self._times > 1 else ""
            logger.warning(self.message.format(count=self._count, times=self._times) + more)
            self.lines += 1
            self._count = self._times = 0
