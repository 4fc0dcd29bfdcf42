"""The progress bar of a run: redrawn in place on a terminal, or a line per tenth otherwise."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from django.utils.translation import gettext as _


class Progress:
    """A progress bar redrawn in place (``bar``), a line per tenth (``lines``), or nothing (``off``)."""

    BAR_MIN_WIDTH = 10
    BAR_MAX_WIDTH = 40
    REDRAW_SECONDS = 0.1

    def __init__(
        self,
        *,
        write: Callable[[str], None],
        total: int,
        mode: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write, self.total, self.mode, self.clock = write, max(total, 1), mode, clock
        self.started = clock()
        self.last_drawn = float("-inf")
        self.last_tenth = 0
        self.drawn_width = 0

    def update(self, sent: int, *, final: bool = False) -> None:
        now = self.clock()
        if self.mode == "bar" and (final or now - self.last_drawn >= self.REDRAW_SECONDS):
            self.last_drawn = now
            line = self.bar_line(sent, now - self.started)
            self.write("\r" + line.ljust(self.drawn_width))
            self.drawn_width = len(line)
        elif self.mode == "lines":
            tenth = sent * 10 // self.total
            if tenth > self.last_tenth:
                self.last_tenth = tenth
                self.write(
                    _("%(percent)d%%: %(sent)d of %(total)d events sent")
                    % {"percent": min(100, sent * 100 // self.total), "sent": sent, "total": self.total}
                    + "\n"
                )

    def finish(self, sent: int) -> None:
        """Draw the last state and end the bar's line."""
        self.update(sent, final=True)
        if self.mode == "bar":
            self.write("\n")

    def bar_line(self, sent: int, elapsed_seconds: float) -> str:
        """``[####------] 120/351  34%  150 events/s  2s left``, the bar as wide as the terminal allows."""
        share = min(1.0, sent / self.total)
        rate = sent / elapsed_seconds if elapsed_seconds > 0 else 0.0
        figures = _("%(sent)d/%(total)d %(percent)3d%% %(rate).0f events/s") % {
            "sent": sent,
            "total": self.total,
            "percent": int(share * 100),
            "rate": rate,
        }
        if rate > 0 and sent < self.total:
            figures += " " + _("%(seconds)ds left") % {"seconds": round((self.total - sent) / rate)}
        columns = shutil.get_terminal_size().columns
        width = max(self.BAR_MIN_WIDTH, min(self.BAR_MAX_WIDTH, columns - len(figures) - 4))
        filled = int(share * width)
        return f"[{'#' * filled}{'-' * (width - filled)}] {figures}"[: max(20, columns - 1)]
