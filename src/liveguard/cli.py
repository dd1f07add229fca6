"""The `liveguard` command: each subcommand lives in its own module and is imported lazily.

A subcommand module exposes `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("liveguard.relay.cli", "run the relay (embeds the emulator when no API key is set)"),
    "emulate": ("liveguard.emulator.cli", "run the offline Gemini Live emulator"),
    "call": ("liveguard.caller.cli", "a simulated phone call (Twilio or another carrier)"),
    "report": ("liveguard.report.cli", "summarise session logs and write an HTML report"),
    "replay": ("liveguard.report.replay", "feed a session log to the guard, print its decisions"),
    "convert": ("liveguard.report.convert", "convert LiveServerMessage dumps to an event log"),
    "doctor": ("liveguard.config.doctor", "explain risky choices in a settings file"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveguard", description=__doc__.splitlines()[0])
    from liveguard import __version__

    parser.add_argument("--version", action="version", version=f"liveguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # only import the module that will run
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
