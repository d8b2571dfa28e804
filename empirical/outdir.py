"""Output folders: one writer at a time, and a failed run that leaves only what a resume needs.

``wzbounds validate``, ``policies`` and ``merge`` write their ``--out`` folder inside
:func:`writing`:

* **One writer.** The folder itself is locked (``flock``, exclusive, non-blocking) for the whole
  run. The lock belongs to the open folder, so it ends with the process however that ends (an
  error, Ctrl-C, SIGKILL, a crash): there is never a stale lock to clear. A second writer is
  refused in one line naming the folder and the holder (its pid and command line, which the
  holder keeps in ``.wzbounds-writer`` while it runs). ``merge`` reads its input folders under a
  shared lock (:func:`reading`): a folder still being written is not merged.
* **Stray temporary files** of an atomic write that was killed (``*.<pid>.tmp*``, see
  :mod:`wzbounds._fileio`) are removed once the lock is held, nobody else can be writing them
  (in the folder, ``stages/`` and ``rows/``; JSON, JSONL, markdown and PNG ones only).
* **A failed run** (an error, Ctrl-C) that found the folder absent or empty leaves it absent
  again, unless it measured rows: then it leaves only what a resume needs (``keep``: validate's
  ``stages/`` and ``rows/``; policies' JSON stages and ``rows.jsonl``) and the rerun of the same
  command continues from them. A failed run in a folder that already held a run leaves it as it
  was (every file in it is whole, all writes being atomic), minus temporary files.

Without ``fcntl`` (Windows) there is no lock: one writer per folder is then the user's care.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from wzbounds._fileio import TMP_NAME, atomic_write

from .models import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["writing", "reading", "intact", "remove_stray_tmp", "WRITER_FILE"]

#: Who holds a folder: "pid N: COMMAND", written by the holder, removed when it lets go.
WRITER_FILE = ".wzbounds-writer"
#: How often a lock is retried when its folder was replaced between opening and locking it.
LOCK_ATTEMPTS = 3
PNG_MAGIC, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
#: Kinds of file the runs write (a temporary file of another kind is not theirs).
OUTPUT_SUFFIXES = (".json", ".jsonl", ".md", ".png")


def _holder(path: Path) -> str:
    try:
        said = (path / WRITER_FILE).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        said = ""
    return " ".join(said.split())[:300] or "a process that has not said which"


def _lock(path: Path, shared: bool, refusal: str):
    """An open descriptor of ``path`` holding the lock (None without fcntl, or where the file
    system cannot lock: then a warning). ``refusal``: the message when another process holds it,
    formatted with ``holder``."""
    if fcntl is None:
        return None
    for _ in range(LOCK_ATTEMPTS):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UserError(refusal.format(holder=_holder(path))) from None
            print(f"wzbounds: warning: cannot lock {path} ({exc.strerror}); make sure no other run writes into it",
                  file=sys.stderr)
            return None
        try:  # a failed run may have removed (and another re-created) the folder since we opened it
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
        if not shared:
            path.mkdir(parents=True, exist_ok=True)
    raise UserError(f"{path} keeps being removed and re-created while this run tries to lock it")


def _unlock(fd) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def _make(path: Path) -> list:
    """Create ``path`` and its missing parents; the folders this call created, outermost first."""
    missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
    created = []
    for p in missing:
        try:
            p.mkdir()
            created.append(p)
        except FileExistsError:  # another process was faster: that one is not ours to remove
            pass
    return created


def remove_stray_tmp(path: Path) -> None:
    """Delete the temporary files of killed atomic writes where runs write (``path``, its
    ``stages/`` and ``rows/``), and only of the kinds of file they write: an ``--out`` that is
    some other folder keeps its own ``*.tmp`` files."""
    for folder in (path, path / "stages", path / "rows"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if TMP_NAME.search(p.name) and p.is_file() and \
                    Path(TMP_NAME.sub(lambda m: m.group(1) or "", p.name)).suffix in OUTPUT_SUFFIXES:
                p.unlink(missing_ok=True)


def _empty(path: Path) -> bool:
    return not any(p.name != WRITER_FILE and not TMP_NAME.search(p.name) for p in path.iterdir())


def _has_rows(path: Path, keep) -> bool:
    """True when a kept entry holds a non-empty ``*.jsonl`` (measured rows a resume would reuse)."""
    for entry in path.iterdir():
        if not any(fnmatch.fnmatch(entry.name, k) for k in keep):
            continue
        files = entry.rglob("*.jsonl") if entry.is_dir() else [entry] if entry.suffix == ".jsonl" else []
        if any(f.is_file() and f.stat().st_size for f in files):
            return True
    return False


def _clear(path: Path, keep=()) -> None:
    """Remove every entry of ``path`` whose name matches none of ``keep`` (best effort)."""
    for entry in path.iterdir():
        if any(fnmatch.fnmatch(entry.name, k) for k in keep):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _after_failure(path: Path, created: list, fresh: bool, keep) -> None:
    """Leave ``path`` as the module docstring says; never raises (the run's own error matters)."""
    try:
        if not path.is_dir():
            return
        if not fresh:
            remove_stray_tmp(path)
            return
        if keep and _has_rows(path, keep):
            _clear(path, keep)
            remove_stray_tmp(path)
            return
        _clear(path)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                break  # not empty: someone else's now
    except OSError:
        pass


@contextmanager
def writing(out, *, keep=(), label="`--out`"):
    """Hold ``out`` (created when absent) as its only writer for the block; see the module
    docstring for the lock and for what a failure leaves. ``keep``: names (fnmatch patterns) of
    the top-level entries a resume needs. Yields the folder's Path."""
    path = Path(out).expanduser()
    created = _make(path)
    fd = _lock(path, shared=False,
               refusal=f"{label} {path} is being written by another wzbounds run ({{holder}}); a folder has one "
                       "writer: wait for that run to end, or give this one another folder")
    try:
        fresh = bool(created) or _empty(path)
        remove_stray_tmp(path)
        if fd is not None:
            from .provenance import command_line

            atomic_write(path / WRITER_FILE, f"pid {os.getpid()}: {' '.join(command_line().split())}\n")
    except BaseException:
        _unlock(fd)
        raise
    try:
        yield path
    except BaseException:
        _after_failure(path, created, fresh, keep)
        raise
    finally:
        if fd is not None:
            (path / WRITER_FILE).unlink(missing_ok=True)
        _unlock(fd)


@contextmanager
def reading(folder):
    """Hold a shared lock on an existing ``folder`` for the block: its writer, if any, must have
    ended (UserError naming it otherwise). A missing folder is left to the caller to report."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        yield path
        return
    fd = _lock(path, shared=True,
               refusal=f"{path} is being written by another wzbounds run ({{holder}}); merge it when that run has ended")
    try:
        yield path
    finally:
        _unlock(fd)


def intact(path) -> bool:
    """Whether an output file parses: a profile JSON loads, a markdown file is non-empty UTF-8
    ending in a newline, a PNG has its signature and its end chunk. Other files: non-empty."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if path.suffix == ".png":
        return data.startswith(PNG_MAGIC) and data.endswith(PNG_END)
    if path.suffix == ".md":
        try:
            return data.endswith(b"\n") and bool(data.decode("utf-8").strip())
        except UnicodeDecodeError:
            return False
    if path.name.startswith("profile") and path.suffix == ".json":
        from wzbounds.profiles import load_profile

        try:
            load_profile(path)
        except ValueError:
            return False
        return True
    return bool(data)
