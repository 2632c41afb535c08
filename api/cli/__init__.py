"""The `bdp` command: server-side commands (server.py: server, api, framework,
orchestrator, users, tokens, products load) and the user's commands, which talk to the
REST API like any other client. Each area adds its own subcommands.

A module listed in COMMAND_MODULES exposes `register(subparsers)`, adding parsers
whose `func(args) -> int` does the work.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = [
    "api.cli.server",  # server, api, framework, orchestrator, users, tokens
    "api.engines.images",  # images build
    "api.cli.products",  # products list, products show
    "api.cli.authoring",  # products lint, render, load, test
    "api.cli.clusters",  # launch, clusters, destroy
    "api.cli.operations",  # resize, replace, repair, extend, ops
    "api.cli.quota",  # quota show, quota set
    "api.cli.access",  # login, ssh, keys
    "api.cli.tunnel",  # port-forward, tunnel (ssh's ProxyCommand)
    "api.cli.hosts",  # hosts add|list|show|drain|activate|remove
]
# 128 + SIGPIPE, what a shell reports for `cat` cut off the same way: `set -o pipefail`
# still sees that the output was not all read.
EXIT_BROKEN_PIPE = 141


def subcommands(parser: argparse.ArgumentParser, dest: str):
    """The sub-command action of `parser`, creating it when the parser has none yet
    (so two modules can share a parser, as `products` is shared with `products load`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=dest, metavar="COMMAND")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bdp", description="Big Data PaaS")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def run(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args) or 0


def main(argv: list[str] | None = None) -> int:
    # `bdp clusters logs ... | head`: the reader may leave before we are done. Python
    # ignores SIGPIPE, so the write, or the final flush (which also covers argparse's
    # `--help`), raises BrokenPipeError: end quietly, not with a traceback. stdout goes
    # to devnull because the interpreter flushes it once more on the way out.
    try:
        try:
            return run(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
