"""A progress line on rank 0, shown only when stderr is a terminal."""

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Count work units on rank 0 and redraw ``label: k/N (p%)`` at most 10 times a second."""

    def __init__(self, total, comm, label="progress", stream=None):
        self.total, self.done_units, self.label = max(1, total), 0, label
        self.stream = stream or sys.stderr
        self.active = comm.Get_rank() == 0 and getattr(self.stream, "isatty", lambda: False)()
        self._last = 0.0

    def advance(self, units=1):
        """Record ``units`` more work done."""
        self.done_units += units
        now = time.monotonic()
        if self.active and now - self._last > 0.1:
            self._last = now
            pct = 100.0 * self.done_units / self.total
            self.stream.write(f"\r{self.label}: {self.done_units}/{self.total} ({pct:.0f}%)")
            self.stream.flush()

    def done(self):
        """Clear the progress line."""
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()
