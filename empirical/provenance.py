"""Provenance: what was measured, with what, by which versions — one block for every command.

``wzbounds validate`` and ``wzbounds policies`` both embed a :class:`Provenance` in their
results: the model (:class:`ModelProvenance`, including which tokenizer was used and where it came
from), the corpora (:class:`CorpusProvenance`), versions, seed, the command line and the
measurement's cost.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from .records import Record

__all__ = ["ModelProvenance", "CorpusProvenance", "Provenance", "package_version", "command_line",
           "TOKENIZER_SOURCES"]

#: Where a run's tokenizer came from.
TOKENIZER_SOURCES = ("model", "gguf-metadata", "--tokenizer", "byte")


@dataclass(frozen=True)
class ModelProvenance(Record):
    """The loaded model. ``tokenizer``: path or id the tokenizer was loaded from (part of the
    prefix fingerprint); ``tokenizer_source``: one of :data:`TOKENIZER_SOURCES` (``model``: the
    model's own, for a GGUF file transformers' conversion of it; ``gguf-metadata``: rebuilt by
    :mod:`.gguf_tokenizer` from the file's tokenizer metadata)."""

    model_id: str
    format: str
    file_sha256: str | None
    gguf_file: str | None
    tokenizer: str
    tokenizer_source: str
    tokenizer_class: str
    model_class: str
    model_type: str | None
    attn_implementation: str
    trust_remote_code: bool
    dtype: str
    device: str
    torch_version: str
    transformers_version: str
    #: Why ``attn_implementation`` was chosen (:func:`wzbounds.empirical.compat.attention_implementation`).
    attn_reason: str = "not recorded (written before wzbounds 0.2)"
    #: module -> device where the model is spread over devices (``--device-map``), else None
    device_map: dict[str, str] | None = None

    def __post_init__(self):
        if self.tokenizer_source not in TOKENIZER_SOURCES:
            raise ValueError(f"`tokenizer_source` must be one of {list(TOKENIZER_SOURCES)}, got {self.tokenizer_source!r}")

    @property
    def identity(self) -> str:
        """What identifies the weights: the file hash when known, else the model id."""
        return self.file_sha256 or self.model_id


@dataclass(frozen=True)
class CorpusProvenance(Record):
    """A corpus and what sampling saw of it."""

    description: str
    sha256: str
    n_documents: int
    skipped_short_documents: int
    characters_per_token: float


@dataclass(frozen=True)
class Provenance(Record):
    """The shared provenance block of a measurement result."""

    model: ModelProvenance
    corpora: tuple[CorpusProvenance, ...]
    package_version: str
    numpy_version: str
    seed: int
    command: str | None
    wall_s: float | None
    forward_tokens: int
    forward_calls: int
    measure_wall_s: float
    n_prefixes_measured: int


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wzbounds")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def command_line() -> str:
    """This process's command, spelled ``wzbounds ...`` when it is the CLI (the console script or
    ``python -m wzbounds.cli``)."""
    first = sys.argv[0].replace("\\", "/") if sys.argv else ""
    if first.endswith(("wzbounds", "wzbounds/cli.py")):
        return " ".join(["wzbounds"] + sys.argv[1:])
    return " ".join(sys.argv)
