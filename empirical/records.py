"""Typed seams: frozen dataclasses that are saved, loaded and handed from one stage to the next.

A :class:`Record` subclass is a frozen dataclass whose field annotations say what JSON may hold:
``int``, ``float``, ``str``, ``bool``, ``None`` and unions of them (``float | None``),
``tuple[X, ...]`` / ``tuple[X, Y]``, ``dict[str, X]``, other records, and ``JSON`` (any JSON
value, for free-form echoes such as a command line's options). :meth:`Record.to_dict` writes
plain JSON types; :meth:`Record.from_dict` rebuilds the record and validates the *whole*
document against the annotations (unknown and missing fields, wrong types, NaN), raising
``ValueError`` that names the offending field path, e.g. ``fits['preserve/tv'].alpha_ci[1]``.
:func:`load_record` adds the file name, so a bad file is one line naming the file and the field.

Top-level documents set ``KIND`` and ``SCHEMA_VERSION``; those two keys are written and checked.
"""
from __future__ import annotations

import math
import types
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from wzbounds._fileio import loads_json, short_repr

__all__ = ["Record", "JSON", "load_record", "save_record", "read_json"]

#: Annotation for a field holding any JSON value (validated only as JSON).
JSON = Any


@dataclass(frozen=True)
class Record:
    """Base class of typed, JSON-round-tripping frozen dataclasses (see the module docstring)."""

    KIND: ClassVar[str | None] = None
    SCHEMA_VERSION: ClassVar[int | None] = None

    def to_dict(self) -> dict:
        out = {}
        if self.KIND is not None:
            out.update(kind=self.KIND, schema_version=self.SCHEMA_VERSION)
        for f in fields(self):
            out[f.name] = _dump(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, doc, *, path: str = ""):
        """Rebuild from JSON ``doc``; ValueError naming the field when anything does not parse."""
        if not isinstance(doc, dict):
            raise ValueError(f"{path or cls.__name__}: expected an object, got {type(doc).__name__}")
        doc = dict(doc)
        if cls.KIND is not None:
            kind, version = doc.pop("kind", None), doc.pop("schema_version", None)
            if kind != cls.KIND:
                raise ValueError(f"field `kind`: expected {cls.KIND!r}, got {kind!r}")
            if type(version) is not int or version != cls.SCHEMA_VERSION:  # true == 1 in Python, not here
                raise ValueError(f"field `schema_version`: expected {cls.SCHEMA_VERSION}, got {short_repr(version)} "
                                 "(written by another wzbounds version)")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - names)
        if unknown:
            raise ValueError(f"field `{_join(path, unknown[0])}`: unknown field")
        kwargs = {}
        for f in fields(cls):
            where = _join(path, f.name)
            if f.name not in doc:
                if f.default is MISSING and f.default_factory is MISSING:
                    raise ValueError(f"field `{where}`: missing")
                continue
            kwargs[f.name] = _load(hints[f.name], doc[f.name], where)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:  # __post_init__ checks of the record itself
            raise ValueError(f"field `{path or cls.__name__}`: {exc}") from None


def _join(path, name):
    return f"{path}.{name}" if path else str(name)


def _dump(x):
    if isinstance(x, Record):
        return x.to_dict()
    if isinstance(x, dict):
        return {str(k): _dump(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_dump(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return x.item()
    return x


def _fail(where, want, value):
    raise ValueError(f"field `{where}`: expected {want}, got {short_repr(value)}")


def _load(tp, value, where):
    """``value`` checked against annotation ``tp`` and converted (lists -> tuples, dicts -> records)."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            _fail(where, " | ".join(getattr(o, "__name__", str(o)) for o in options), value)
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _load(option, value, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0])
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            _fail(where, "a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            _fail(where, f"a list of {len(args)}", value)
        return tuple(_load(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        _, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            _fail(where, "an object", value)
        return {k: _load(vt, v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value, path=where)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(where, "true/false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(where, "an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            _fail(where, "a finite number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            _fail(where, "a string", value)
        return value
    if tp is type(None):
        if value is not None:
            _fail(where, "null", value)
        return None
    raise TypeError(f"unsupported annotation {tp!r} at {where}")  # a bug in a Record subclass


def read_json(path):
    """The JSON document at ``path``; ValueError naming the file when it is not readable JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (not UTF-8)") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a JSON file") from None
    return loads_json(text, str(path))


def load_record(cls, path):
    """``cls.from_dict`` of the JSON file at ``path``; every error is one line naming the file."""
    doc = read_json(path)
    try:
        return cls.from_dict(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def save_record(record: Record, path) -> Path:
    """Write ``record.to_dict()`` atomically (no NaN: a non-finite number is a bug, raised here)."""
    from .results import write_json

    write_json(path, record.to_dict())
    return Path(path)
