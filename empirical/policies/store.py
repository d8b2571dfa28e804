"""Append-only JSONL of per-prefix rows with resume (same contract as ``validate``'s store:
a row's ``key`` is written once; a rerun skips keys already present)."""
from __future__ import annotations

import json
from pathlib import Path


class JsonlStore:
    """Rows (JSON objects with a ``"key"`` string) appended to ``path``, one per line.

    A truncated last line (an interrupted write) is ignored on reading and overwritten on the
    next append, so an interrupted run resumes cleanly."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def rows(self) -> list:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # partial line from an interrupted run
        return out

    def keys(self) -> set:
        return {r["key"] for r in self.rows()}

    def append(self, rows) -> None:
        text = self.path.read_text() if self.path.exists() else ""
        if text and not text.endswith("\n"):  # drop a torn last line
            text = text[: text.rfind("\n") + 1]
            self.path.write_text(text)
        with self.path.open("a") as f:
            for r in rows:
                f.write(json.dumps(r, sort_keys=True) + "\n")
