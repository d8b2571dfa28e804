"""Files the package writes and JSON it reads, made safe against the disk and the input.

* :func:`atomic_write` / :func:`atomic_path`: a file appears whole or not at all (a temporary
  file in the same folder, flushed, fsync'ed and renamed over the target). A failed write
  removes its temporary file and raises an ``OSError`` that names the target, so a full disk
  reads "No space left on device: .../report.md", not a bare "[Errno 28]". Text is always
  UTF-8, whatever the locale says.
* :data:`TMP_NAME`: the temporary names those writers use (``<stem>.<pid>.tmp<suffix>``, and the
  older ``<name>.<pid>.tmp``); a process killed mid-write leaves one, which the next writer of the
  folder removes (:mod:`wzbounds.empirical.outdir`).
* :func:`loads_json`: ``json.loads`` for files a user hands in: nesting deeper than any real
  profile or config, and integers longer than Python converts, are one ``ValueError`` naming the
  file (never a ``RecursionError`` or Python's int-digit message); a too-long integer is kept as a
  :class:`LongInteger` so that the validator of its field names the field.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_write", "atomic_path", "TMP_NAME", "loads_json", "LongInteger", "MAX_JSON_DEPTH", "short_repr"]

#: Temporary files of :func:`atomic_path` (and of the writers before it): safe to delete when no
#: writer holds the folder.
TMP_NAME = re.compile(r"\.\d+\.tmp(\.[A-Za-z0-9]+)?$")
#: Nesting allowed in a JSON input: profiles and configs use a handful of levels; the bound keeps
#: every recursive reader (json, validators, printers) far from Python's recursion limit.
MAX_JSON_DEPTH = 100
#: Python's default limit on the digits of an int converted from text (sys.get_int_max_str_digits).
INT_DIGITS = 4300


def _named(exc: OSError, path: Path, tmp: Path) -> OSError:
    """``exc`` as an OSError that names ``path``: errors raised by write() carry no file name, and
    the temporary file's name means nothing to the user."""
    if exc.filename is not None and str(exc.filename) != str(tmp):
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


@contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path`` (same suffix, so writers that infer a format from
    it still do); when the block succeeds the temporary file is fsync'ed and renamed over
    ``path`` (a block that wrote nothing leaves ``path`` alone), otherwise it is removed. OSErrors
    name ``path``."""
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp{path.suffix}")  # per process: ranks may share a file
    try:
        yield tmp
        if not tmp.exists():
            return
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _named(exc, path, tmp) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path, data) -> Path:
    """Write ``data`` (str: UTF-8, or bytes) to ``path`` atomically (see :func:`atomic_path`)."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(payload)
    return path


class LongInteger:
    """A JSON integer with more digits than Python converts (``digits``); no field accepts it, so
    its validator refuses it by name."""

    def __init__(self, text: str):
        self.digits = len(text.lstrip("-"))

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


def _int(text: str):
    return int(text) if len(text) <= INT_DIGITS else LongInteger(text)


def _depth_ok(text: str) -> bool:
    """True when no bracket nests deeper than MAX_JSON_DEPTH (strings skipped); one linear pass."""
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = m.group()
        if token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif token in "]}":
            depth -= 1
    return True


def loads_json(text: str, label: str):
    """``json.loads(text)`` for input named ``label``; ValueError naming ``label`` when the text is
    not JSON, nests deeper than :data:`MAX_JSON_DEPTH`, or cannot be parsed for size."""
    if not _depth_ok(text):
        raise ValueError(f"{label} nests deeper than {MAX_JSON_DEPTH} levels; no profile or config does")
    try:
        return json.loads(text, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{label} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"{label} is too large or too deeply nested to read as JSON") from None


def short_repr(value, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, safe for integers of any length."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
