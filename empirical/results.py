"""Result storage: an append-only JSONL row store, typed JSON artifacts, and the result schema.

* :class:`JsonlStore` — one JSON object per line, each with a unique ``key``; a row is flushed
  and fsync'ed when appended, so a killed run loses at most the row in flight, and a truncated
  last line (a kill mid-write) is ignored on reading. ``done_keys()`` lets a rerun resume.
* :func:`save_artifact` / :func:`load_artifact` — a stage's output as JSON with a ``kind`` and
  a ``fingerprint`` of the inputs it was computed from; loading with another fingerprint
  returns None (the stage reruns).

The typed results themselves (``result.json``, ``policies.json``) are :class:`.records.Record`
subclasses validated whole on load.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from wzbounds._fileio import atomic_write

__all__ = ["JsonlStore", "save_artifact", "load_artifact", "fingerprint", "write_json"]


def write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON atomically (whole or not at all; an OSError names the file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def fingerprint(obj) -> str:
    """sha256 of the canonical JSON of ``obj`` (what a stage's output depends on)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class JsonlStore:
    """Append-only store of JSON rows at ``path``; each row is a dict with a ``key``."""

    def __init__(self, path):
        self.path = Path(path)

    def rows(self, on_bad=None, *, unique=True) -> list:
        """All complete rows, first occurrence of each key kept (a duplicate from a rerun is dropped;
        with ``unique=False`` every occurrence, for a caller that validates rows before choosing).

        A line that is not a JSON object with a ``key`` is skipped (its row is re-measured); a
        torn last line (a kill mid-write) is skipped silently, any other bad line is reported
        to ``on_bad(line_number, reason)`` when given."""
        if not self.path.exists():
            return []
        out, seen = [], set()
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith("\n"):
                    break  # torn last line of a killed run
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    if on_bad is not None:
                        on_bad(number, f"not JSON ({exc.msg})")
                    continue
                if not isinstance(row, dict) or "key" not in row:
                    if on_bad is not None:
                        on_bad(number, "not a row (no `key`)")
                    continue
                if unique and row["key"] in seen:
                    continue
                seen.add(row["key"])
                out.append(row)
        return out

    def done_keys(self) -> set:
        return {r["key"] for r in self.rows()}

    def append(self, row: dict) -> None:
        """Append one row (must hold ``key``), flushed and fsync'ed."""
        if "key" not in row:
            raise ValueError("a row needs a `key`")
        line = json.dumps(row, allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # a full disk: name the file (the torn line is dropped on the next append)
            if exc.filename is None:
                raise OSError(exc.errno, exc.strerror or str(exc), str(self.path)) from None
            raise

    def _drop_torn_tail(self):
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            f.seek(data.rfind(b"\n") + 1)
            f.truncate()


def save_artifact(path, kind: str, fingerprint_: str, payload: dict) -> None:
    """Save a stage output ``payload`` as ``{"kind", "fingerprint", "payload"}`` JSON."""
    write_json(path, {"kind": kind, "fingerprint": fingerprint_, "payload": payload})


def load_artifact(path, kind: str, fingerprint_: str):
    """The payload saved at ``path`` if it is a ``kind`` artifact with this fingerprint, else None
    (also for a truncated or corrupt file: a stage artifact is derived, so it is recomputed)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):  # not JSON, not UTF-8, absurdly nested: recompute
        return None
    if not isinstance(doc, dict) or doc.get("kind") != kind or doc.get("fingerprint") != fingerprint_ \
            or not isinstance(doc.get("payload"), dict):
        return None
    return doc["payload"]
