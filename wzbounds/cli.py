"""Command-line entry point ``wzbounds``.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a
parser whose ``func(args) -> int`` runs it. Empirical commands register from
``wzbounds.empirical.cli``; that module imports torch only inside ``func``, so
``wzbounds window`` works on a core-only install.

Error contract, the same for every command: a user error prints exactly one line on stderr,
``wzbounds CMD: error: MESSAGE``, and exits with status 2, never a traceback. User errors are
argparse usage errors (``--help`` still prints the full help), ``UserError``/``ValueError`` from
validation, ``OSError`` (a path the user gave is missing, unwritable or the wrong kind; a download
failed), ``MemoryError`` (a problem too large for this machine) and a missing optional extra.
Ctrl-C prints one line and exits with 130, also while the command is still starting and when
pressed again during the clean-up; a reader that closes the pipe (``| head``) ends the
command quietly with 141, as SIGPIPE would. Any other exception is a bug and keeps its traceback:
bad input must be caught by validation, not by a blanket ``except``.
"""

from __future__ import annotations

import _signal  # the C module: `signal` first builds its enums, long enough to be interrupted in
import os
import sys


def _quiet_interrupt(signum, frame):  # pragma: no cover - runs in a process being interrupted
    os.write(2, b"wzbounds: interrupted\n")
    os._exit(130)


if __name__ == "__main__":
    # `python -m wzbounds.cli`: a Ctrl-C while the rest of the command imports ends like one at
    # any later moment (one line, 130), not in an import's traceback; main() takes over below
    _signal.signal(_signal.SIGINT, _quiet_interrupt)

import argparse  # noqa: E402
import importlib  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402

#: Modules contributing sub-commands, in help order.
COMMAND_MODULES = (
    "wzbounds.commands.window",
    "wzbounds.commands.simulate",
    "wzbounds.empirical.cli",
    "wzbounds.empirical.policies.cli",
)


#: Optional dependencies and the extra that installs each (a missing one is a user error).
OPTIONAL_EXTRAS = {
    "torch": "empirical",
    "transformers": "empirical",
    "gguf": "empirical",
    "accelerate": "empirical",
    "tqdm": "empirical",
    "matplotlib": "plot",
    "kvpress": "kvpress",
}

#: Exit status of a user error (argparse's own) and of Ctrl-C (128 + SIGINT, the shell convention).
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE


class UserError(Exception):
    """An error caused by the user's input; reported in one line with exit status 2."""


def one_line(text) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


class OneLineParser(argparse.ArgumentParser):
    """Usage errors print one line, ``PROG: error: MESSAGE (see PROG --help)``, instead of argparse's
    usage block; ``--help`` is untouched. Sub-parsers inherit the class (argparse creates them with
    the parent's type)."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="wzbounds",
        description="Memory-distortion limits of KV-cache compression (sequential Wyner-Ziv bounds).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _parse(parser: argparse.ArgumentParser, argv):
    """Parse ``argv``; an unknown option is reported by the sub-command's parser, so the message
    names the command (argparse itself reports it from the top-level parser)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        parser.error(f"give a command: {', '.join(commands)}")
    if extra:
        commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


#: Exceptions that can be user errors; ``_user_error`` decides (e.g. only a missing *optional* module).
_MAYBE_USER_ERRORS = (UserError, ValueError, OSError, MemoryError, ModuleNotFoundError)


def _user_error(exc: BaseException) -> str | None:
    """The one-line message of a user error, or None if ``exc`` is not one (a bug)."""
    if isinstance(exc, ModuleNotFoundError):
        root = (exc.name or "").split(".")[0]
        if root not in OPTIONAL_EXTRAS:
            return None
        return f"needs {root!r}: pip install 'wzbounds[{OPTIONAL_EXTRAS[root]}]'" + (
            " (install the CPU wheel first: pip install torch==2.13.0)" if root == "torch" else ""
        )
    if isinstance(exc, OSError) and exc.filename is not None:
        # a path the user named: missing, unwritable, a file where a folder is needed, ...
        where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
        return one_line(f"{exc.strerror or type(exc).__name__}: {where}")
    if isinstance(exc, MemoryError):
        return "out of memory: the requested problem is too large for this machine; reduce its size"
    return one_line(exc) or type(exc).__name__


#: Set by :func:`_on_interrupt`: this run was interrupted (whatever error that turned into).
_interrupted = False


def _on_interrupt(signum, frame):
    """SIGINT: ignore the next ones (the clean-up of this interrupt must not be cut short by a
    second Ctrl-C), then unwind as KeyboardInterrupt."""
    global _interrupted
    _interrupted = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: this process's); returns the exit status.

    As the process's entry point (``argv`` None) the process ends with this command, so Ctrl-C
    is ignored from here on (during Python's exit it would have nothing left to stop, and kill the
    process with status -2), and an interrupted run ends right after its clean-up with 130:
    Python's own exit would turn an interrupt that landed inside a C extension's import into
    death by SIGINT, whatever this function returned."""
    global _interrupted
    _interrupted = False
    code = _run(argv)
    if argv is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if _interrupted:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)
    return code


def _interrupted_status(prog, args) -> int:
    # a command may say what survives an interrupt (set_defaults(interrupt_note=...))
    note = getattr(args, "interrupt_note", None)
    print(f"{prog}: interrupted" + (f"; {note}" if note else ""), file=sys.stderr)
    return EXIT_INTERRUPTED


def _run(argv) -> int:
    prog = "wzbounds"
    args = None
    previous = None
    try:
        if threading.current_thread() is threading.main_thread():  # signals can only be set there
            previous = signal.signal(signal.SIGINT, _on_interrupt)
        parser = build_parser()
        try:
            args = _parse(parser, argv)
        except SystemExit as exc:  # usage error (already printed in one line) or --help
            return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
        prog = f"wzbounds {args.command}"
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, as a program killed by SIGPIPE would;
        # stdout goes to devnull so that the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return _interrupted_status(prog, args)
    except Exception as exc:
        if _interrupted:  # an interrupt a library turned into its own error (numpy's import: ImportError)
            return _interrupted_status(prog, args)
        message = _user_error(exc) if isinstance(exc, _MAYBE_USER_ERRORS) else None
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        # hand SIGINT back to the caller unless it interrupted us: then the process is ending and
        # a further Ctrl-C during its exit must stay ignored
        if previous is not None and signal.getsignal(signal.SIGINT) is _on_interrupt:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":  # pragma: no cover
    # `python -m wzbounds.cli` runs this file as __main__, a second copy of the module: run the
    # imported wzbounds.cli instead, whose UserError is the one the commands raise
    from wzbounds.cli import main as _main

    sys.exit(_main())
