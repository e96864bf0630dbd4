"""The `swell` command: options parsed, the library called, what it returns printed.

Each command lives in the module of its kind (`store`: ingest, info, export; `trends`; `campaign`:
campaign, report; `coordination`; `simulate`; `collect`; `live`: watch, replay, serve) and is imported only
when it is used, with the library modules it needs, so that `swell --help` and the first line of
every command come fast. Options shared by several commands are declared once, in `options`.

One error boundary: what the user can fix (`swell.errors.SwellError`) is one line on standard error
and the error's exit status, never a traceback. Exit statuses: 0 done, 1 failed or nothing usable
was read, 2 a usage error (an unknown option, a file that is not there, a time that is not a time).
"""

from __future__ import annotations

import importlib
import sys

import click

from swell import __version__
from swell.cli.options import CONTEXT
from swell.threads import threads

# command -> the module of swell.cli that defines it, in the order a user meets them
COMMANDS = {
    "ingest": "store",
    "info": "store",
    "export": "store",
    "trends": "trends",
    "campaign": "campaign",
    "report": "campaign",
    "coordination": "coordination",
    "collect": "collect",
    "watch": "live",
    "serve": "live",
    "replay": "live",
    "simulate": "simulate",
}


class Commands(click.Group):
    """swell's commands, imported when used, behind one error boundary."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return getattr(importlib.import_module(f"swell.cli.{COMMANDS[name]}"), name)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            raise _shown(exc) from None

    def invoke(self, ctx: click.Context):
        from swell.errors import SwellError

        try:
            return super().invoke(ctx)
        except click.ClickException as exc:  # its message may quote data (a file name, a CSV header)
            raise _shown(exc) from None
        except SwellError as exc:
            from swell.terminal import stderr, styled

            stderr.print(styled(("error:", "red"), f" {exc}"), soft_wrap=True)
            ctx.exit(exc.exit_status)
        except BrokenPipeError:  # `swell ... | head`: the reader has all it wanted
            sys.stderr.close()
            ctx.exit(0)


def _shown(exc: click.ClickException) -> click.ClickException:
    """The exception, its message made visible: click prints it as it is."""
    from swell.escapes import visible

    exc.message = visible(exc.message)  # type: ignore[misc]  # click's stubs mark it final; it is not
    return exc


@click.group(cls=Commands, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="swell")
def main() -> None:
    """swell watches hashtag campaigns on social media: what is trending and since when, how a planned
    campaign went, and which accounts acted together, from archives (X/Twitter, Bluesky, Mastodon,
    CSV) and live streams.

    \b
    Start with:
      swell ingest tweets.jsonl.gz exports/     # into swell.duckdb
      swell trends                              # what trended, and since when
      swell campaign '#FreeThePress' --planned 2024-03-01T17:00 --report campaign.html

    Exit status: 0 done, 1 failed or nothing usable was read, 2 a usage error. `swell COMMAND -h`
    says more about each command.
    """
    # A bad SWELL_THREADS said before any command starts: `serve` and `watch` open stores in threads.
    threads()
