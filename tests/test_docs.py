"""The command line documents itself: every command and option has help, every command ends its help
with examples that use its real options, the reference in docs/cli.md is what the commands print,
the README names every command, and the choices the commands offer are what the library has."""

from __future__ import annotations

import importlib.util
import shlex
from importlib import resources
from pathlib import Path

import click
import pytest

from swell.cli import main

ROOT = Path(__file__).parent.parent
spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs" / "cli_reference.py")
cli_reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli_reference)

COMMANDS = cli_reference.commands(main)


def command(words: tuple[str, ...]) -> click.Command:
    found: click.Command = main
    for word in words:
        found = found.get_command(click.Context(found), word)  # type: ignore[attr-defined]
    return found


def test_the_reference_is_up_to_date():
    written = (ROOT / "docs" / "cli.md").read_text()
    assert written == cli_reference.reference(), "docs/cli.md is stale: python docs/cli_reference.py > docs/cli.md"


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_and_option_has_help(words):
    cmd = command(words)
    assert cmd.help and cmd.short_help, f"swell {' '.join(words)} has no help or no short help"
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"swell {' '.join(words)} {param.opts[0]} has no help"
        if isinstance(param, click.Argument):  # arguments have no help of their own: the text names them
            assert param.human_readable_name in cmd.help, f"swell {' '.join(words)}: {param.human_readable_name}"


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_ends_with_examples_that_use_its_options(words):
    cmd = command(words)
    _, _, examples = cmd.help.partition("Examples:")
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert len(lines) >= 2, f"swell {' '.join(words)} has fewer than two examples"
    for line in lines:
        for part in line.split("|"):  # a pipe: each side is a command of its own
            argv = shlex.split(part.split("&&")[-1])
            if argv[:1] != ["swell"]:
                continue
            target, rest = main, argv[1:]
            while isinstance(target, click.Group) and rest:  # `swell watch jetstream ...`: to the command
                target, rest = target.get_command(click.Context(target), rest[0]), rest[1:]
            declared = {opt for p in target.params for opt in (*p.opts, *p.secondary_opts)}
            used = {a.split("=")[0] for a in argv if a.startswith("-") and a != "-"}
            assert used <= declared, f"{line!r} uses options swell {' '.join(words)} does not have: {used - declared}"


def test_the_readme_names_every_command():
    readme = (ROOT / "README.md").read_text()
    for words in COMMANDS:
        assert f"swell {' '.join(words)}" in readme, f"the README never shows `swell {' '.join(words)}`"


def test_the_choices_offered_are_what_the_library_has():
    """The command line names choices without importing the library (so that it starts fast); they
    must be exactly the library's."""
    from swell.cli import coordination, options, simulate, store
    from swell.coordination import DEFAULT_KINDS, KINDS
    from swell.detectors import DETECTORS
    from swell.readers import BUILTIN
    from swell.simulate import WRITERS

    assert set(options.DETECTOR_NAMES) == set(DETECTORS)
    assert (set(coordination.KIND_NAMES), set(coordination.DEFAULT_KIND_NAMES)) == (set(KINDS), set(DEFAULT_KINDS))
    assert set(store.READER_NAMES) == {*(r.NAME for r in BUILTIN), "csv"}
    shipped = resources.files("swell").joinpath("mappings").iterdir()
    assert set(store.MAPPING_NAMES) == {p.name.removesuffix(".toml") for p in shipped if p.name.endswith(".toml")}
    assert set(simulate.WRITER_NAMES) == set(WRITERS)
