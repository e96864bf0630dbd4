"""Write docs/cli.md, the command-line reference, from the commands' own --help.

    python docs/cli_reference.py > docs/cli.md

tests/test_docs.py fails when docs/cli.md is not what this writes (a command or option changed and
the reference was not written again).
"""

from __future__ import annotations

import click
from click.testing import CliRunner

from swell.cli import main

HEADER = """# The `swell` command line

Every command's `--help`, as the command prints it (`swell COMMAND -h`). Written by
`python docs/cli_reference.py > docs/cli.md`; a test fails when it is out of date.
"""


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's words (`("watch", "jetstream")`), groups before their commands, in the order of
    `swell --help`."""
    out = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out.extend(commands(command, (*prefix, name)))
    return out


def help_text(words: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*words, "--help"], prog_name="swell", env={"COLUMNS": "100"}, terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def reference() -> str:
    parts = [HEADER, "## swell\n", "```text\n" + help_text(()) + "```\n"]
    for words in commands(main):
        parts.append(f"## swell {' '.join(words)}\n")
        parts.append("```text\n" + help_text(words) + "```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
