"""Command-line entry point ``wzbounds``.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a
parser whose ``func(args) -> int`` runs it. Empirical commands register from
``wzbounds.empirical.cli``; that module imports torch only inside ``func``, so
``wzbounds window`` works on a core-only install. User errors (``ValueError``,
``FileNotFoundError``) print one line and exit 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: Modules contributing sub-commands, in help order.
COMMAND_MODULES = (
    "wzbounds.commands.window",
    "wzbounds.commands.simulate",
    "wzbounds.empirical.cli",
    "wzbounds.empirical.policies.cli",
)


#: Optional dependencies and the extra that installs each (a missing one is a user error).
OPTIONAL_EXTRAS = {"torch": "empirical", "transformers": "empirical", "gguf": "empirical",
                   "accelerate": "empirical", "tqdm": "empirical", "matplotlib": "plot",
                   "kvpress": "kvpress"}


class UserError(Exception):
    """An error caused by the user's input; reported in one line with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wzbounds",
        description="Memory-distortion limits of KV-cache compression (sequential Wyner-Ziv bounds).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, FileNotFoundError) as exc:
        print(f"wzbounds {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root not in OPTIONAL_EXTRAS:
            raise
        print(f"wzbounds {args.command}: error: needs {root!r}: pip install 'wzbounds[{OPTIONAL_EXTRAS[root]}]'"
              + (" (install the CPU wheel first: pip install torch==2.13.0)" if root == "torch" else ""),
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
