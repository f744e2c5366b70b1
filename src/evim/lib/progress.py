"""Progress of long operations on the command line."""

from __future__ import annotations

from typing import Protocol


class TextOutput(Protocol):
    """A text stream: a file, sys.stderr, or a management command's OutputWrapper."""

    def write(self, text: str, /) -> object: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


class ProgressPrinter:
    """``printer(done, total)``: one updating line on a terminal, else a line per tenth."""

    def __init__(self, stream: TextOutput, label: str) -> None:
        self.stream = stream
        self.label = label
        self.interactive = stream.isatty()
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        line = f"{self.label}: {done}/{total} ({percent}%)"
        if self.interactive:
            self.stream.write(f"\r{line}" + ("\n" if done >= total else ""))
        elif percent // 10 != self._last_tenth or done >= total:
            self._last_tenth = percent // 10
            self.stream.write(line + "\n")
        self.stream.flush()
