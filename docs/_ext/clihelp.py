"""The ``--help`` text of each ``wzbounds`` command, from the project's parser builder (shared by
the docs build and ``tests/cover/test_docs_cli.py``)."""
from __future__ import annotations

import argparse
import os

#: argparse wraps help to the terminal: the docs show it at this width (``COLUMNS=80 wzbounds CMD --help``).
COLUMNS = "80"


def commands() -> dict:
    from wzbounds.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {None: parser, **sub.choices}


def help_text(command=None) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        return commands()[command].format_help()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
