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

# C0 controls but newline and tab, DEL and C1 controls, and the Unicode bidirectional controls
# (marks, embeddings, overrides, isolates) that reorder what follows them on the line.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_VISIBLE = str.maketrans(
    {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if c not in (0x09, 0x0A)}
    | {c: f"\\u{c:04x}" for c in _BIDI}
)


def visible(text: str) -> str:
    """`text` with every character that would act on the terminal replaced by its escape."""
    return text.translate(_VISIBLE)


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


stdout = SafeConsole()
stderr = SafeConsole(stderr=True)
