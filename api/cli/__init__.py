"""The `bdp` command: server-side commands (server.py: server, api, framework,
orchestrator, users, tokens, products load) and the user's commands, which talk to the
REST API like any other client. Each area adds its own subcommands.

A module listed in COMMAND_MODULES exposes `register(subparsers)`, adding parsers
whose `func(args) -> int` does the work.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "api.cli.server",  # server, api, framework, orchestrator, users, tokens
    "api.engines.images",  # images build
    "api.cli.client",  # products, launch, clusters, destroy, ssh, keys, login
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bdp", description="Big Data PaaS")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
