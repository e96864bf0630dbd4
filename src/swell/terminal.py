"""What swell prints on a terminal. Everything shown comes, in part, from the data: post text, handles,
hashtags, JSON keys, file names, the reasons records were set aside. Anyone can write a hashtag such
as `#[/]x` or put an escape sequence in a handle, so nothing shown is ever read as rich markup or
emoji codes, and characters that would act on the terminal (escape sequences, bells, carriage
returns, right-to-left overrides) are shown as visible escapes such as `\\x1b` or `\\u202e`.

Use `stdout` and `stderr` for every print; style whole lines with `style=`, or build mixed styles
with `styled`. Their `render_str` makes every string visible, table cells and titles included.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from swell.escapes import visible


class SafeConsole(Console):
    """A rich console that shows strings literally: no markup, no emoji codes, no highlighting, and
    control characters made visible (see the module's docstring)."""

    def __init__(self, **options):
        super().__init__(markup=False, emoji=False, highlight=False, **options)

    def render_str(self, text: str, **options) -> Text:
        options.update(markup=False, emoji=False)
        return super().render_str(visible(text), **options)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of several styles: each part is a string, or (string, style); all are made visible."""
    return Text.assemble(*((visible(p[0]), p[1]) if isinstance(p, tuple) else visible(p) for p in parts))


class VisibleWriter:
    """A stream for output that may land on a terminal (CSV, XML written to standard output): what is
    written goes through `visible(..., lines=True)` first."""

    def __init__(self, stream, binary: bool = False):
        self.stream, self.binary = stream, binary

    def write(self, data) -> int:
        if self.binary:
            self.stream.write(visible(bytes(data).decode("utf-8", "replace"), lines=True).encode())
        else:
            self.stream.write(visible(data, lines=True))
        return len(data)

    def flush(self) -> None:
        self.stream.flush()


stdout = SafeConsole()
stderr = SafeConsole(stderr=True)
