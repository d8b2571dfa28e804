"""The options ``wzbounds validate`` and ``wzbounds policies`` share, and their checks.

Both commands measure a model on prefixes of a corpus, so they take the same model, corpus and
sampling options under the same names (``--model/--gguf/--tokenizer/--dtype/--device``,
``--domain | --text PATH...``, ``--prefixes``, ``--prefix-len``, ``--positions``, ``--seed``,
``--out``). :func:`check_common` validates every one of them *before* a model is loaded, so a
bad option costs nothing and is one line naming it. Old ``policies`` spellings
(``--n-prefixes``, ``--prefix-tokens``, ``--domains``, ``--position-mode``) are hidden aliases.

Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import os
import re
import zipfile
from contextlib import contextmanager
from pathlib import Path

from wzbounds._validation import positive_int

from .compat import ATTENTION_CHOICES

__all__ = ["add_common_options", "check_common", "output_directory", "parse_list", "progress_bars", "DEVICE_PATTERN",
           "GGUF_MAGIC", "BOOTSTRAP_RANGE"]

#: ``--device`` values torch can use (``auto``: cuda, then mps, then cpu).
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
#: First four bytes of every GGUF file.
GGUF_MAGIC = b"GGUF"
#: Bootstrap resamples: a 95% percentile interval needs a few tens; past this the resample index
#: array alone (resamples x prefixes) outgrows memory for no statistical gain.
BOOTSTRAP_RANGE = (20, 200_000)


def add_common_options(parser, *, prefixes: int, prefix_len: int, positions: str, positions_help: str,
                       prefix_len_list: bool = False) -> None:
    """Add the shared option groups to ``parser`` with this command's defaults; with
    ``prefix_len_list`` ``--prefix-len`` takes a comma list (the command parses it)."""
    src = parser.add_argument_group("model")
    which = src.add_mutually_exclusive_group()
    which.add_argument("--model", metavar="ID_OR_DIR", help="hub id or local model directory (hub ids need the network)")
    which.add_argument("--gguf", metavar="FILE", help="a .gguf file, loaded through transformers")
    src.add_argument("--tokenizer", metavar="T",
                     help="tokenizer to use instead of the model's (hub id or directory), or 'gguf' to rebuild "
                          "it from the GGUF file's own metadata")
    src.add_argument("--dtype", default="float32", choices=["auto", "float32", "bfloat16", "float16"])
    src.add_argument("--device", default=None, help="auto (cuda, then mps, then cpu; the default), cpu, cuda, cuda:N, mps")
    src.add_argument("--device-map", metavar="MAP",
                     help="spread a model too large for one device: auto or balanced (accelerate), or a JSON file "
                          "of module name -> device (e.g. {\"model.layers.0\": \"cuda:0\", ...}); not with --device")
    src.add_argument("--attn", default="auto", choices=list(ATTENTION_CHOICES),
                     help="attention implementation (auto: SDPA unless the model's attention is not exactly "
                          "SDPA's, e.g. soft-capped logits, then eager; SDPA in bands, the same attention "
                          "without the hidden scores, for models with sliding-window layers; the choice and "
                          "its reason go into provenance)")
    src.add_argument("--trust-remote-code", action="store_true", help="allow model code from the hub (off)")
    src.add_argument("--allow-pickle", action="store_true", help="allow pickle checkpoints (*.bin; off)")
    src.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads (default: torch's)")
    cor = parser.add_argument_group("corpus").add_mutually_exclusive_group()
    cor.add_argument("--domain", choices=["natural", "code"], help="built-in corpus (default natural)")
    cor.add_argument("--text", nargs="+", metavar="PATH", help="files, folders, globs or .zip archives of text")
    cor.add_argument("--domains", help=argparse.SUPPRESS)  # old policies spelling: comma list
    smp = parser.add_argument_group("sampling")
    smp.add_argument("--prefixes", type=int, default=prefixes, metavar="N", help=f"number of prefixes (default {prefixes})")
    if prefix_len_list:
        smp.add_argument("--prefix-len", default=str(prefix_len), metavar="T[,T...]",
                         help=f"prefix length T in tokens, or a comma list of lengths (default {prefix_len})")
    else:
        smp.add_argument("--prefix-len", type=int, default=prefix_len, metavar="T",
                         help=f"prefix length T in tokens (default {prefix_len})")
    smp.add_argument("--positions", default=positions, metavar="MODES", help=positions_help)
    smp.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the prefix sampling (default 0)")
    # old `policies` spellings, kept for one release and hidden from --help
    for old, dest, kind in (("--n-prefixes", "prefixes", int), ("--prefix-tokens", "prefix_len", int),
                            ("--position-mode", "positions", str)):
        smp.add_argument(old, dest=dest, type=kind, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, metavar="DIR", help="output directory (rerun the command to resume)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_list(option: str, text: str) -> tuple:
    """Comma list -> tuple of non-empty stripped items; ValueError naming ``option`` when empty."""
    items = tuple(x.strip() for x in str(text).split(",") if x.strip())
    if not items:
        raise ValueError(f"`{option}` is empty (give a comma-separated list)")
    if len(set(items)) != len(items):
        raise ValueError(f"`{option}` lists an entry twice: {text!r}")
    return items


def _check_out(out: str) -> Path:
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"`--out` {out} is an existing file, not a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"`--out` {out} lies under {parent}, which is a file")
            if not os.access(parent, os.W_OK | os.X_OK) and not path.exists():
                raise ValueError(f"`--out` {out}: cannot create it ({parent} is not writable)")
            break
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"`--out` {out} is not writable")
    return path


def _check_text(paths) -> None:
    """Every ``--text`` entry names some file, none of them named on its own is binary, the sizes
    are within the caps (all before a model is loaded), and its zips are readable."""
    from .corpora import check_paths

    for spec in paths:
        p = Path(spec).expanduser()
        if p.is_file() and p.suffix == ".zip":
            try:
                with zipfile.ZipFile(p) as zf:
                    bad = zf.testzip()
            except (zipfile.BadZipFile, OSError) as exc:
                raise ValueError(f"`--text` {spec} is not a readable zip archive ({exc})") from None
            if bad is not None:
                raise ValueError(f"`--text` {spec}: zip member {bad!r} is corrupt")
    try:
        check_paths(paths)
    except FileNotFoundError as exc:
        raise ValueError(f"`--text`: {exc}") from None


def _check_gguf(path: str) -> None:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"`--gguf` {path}: no such file")
    with open(p, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ValueError(f"`--gguf` {path} is not a GGUF file (it does not start with the GGUF magic bytes)")


def check_common(args, *, min_prefixes: int = 1, require_model: bool = True) -> None:
    """Validate the shared options of ``args`` (an argparse namespace) before anything is loaded;
    ValueError naming the option. Normalises ``args.domains`` (old spelling) into a tuple."""
    if require_model and not args.model and not args.gguf:
        raise ValueError("give `--model` (hub id or directory) or `--gguf FILE`")
    if args.gguf:
        _check_gguf(args.gguf)
    elif args.model and Path(args.model).expanduser().exists() and Path(args.model).expanduser().is_file() \
            and not str(args.model).endswith(".gguf"):
        raise ValueError(f"`--model` {args.model} is a file; give a model directory, a hub id, or `--gguf FILE`")
    if args.tokenizer == "gguf" and not args.gguf:
        raise ValueError("`--tokenizer gguf` rebuilds the tokenizer from a GGUF file's metadata: give `--gguf FILE`")
    if args.device_map is not None:
        if args.device is not None:
            raise ValueError("`--device` and `--device-map` exclude each other: give one")
        from .distributed import launcher_ranks

        if launcher_ranks() is not None:
            raise ValueError("`--device-map` spreads one model over this machine's devices; under torchrun or "
                             "accelerate launch every process takes one device: use one or the other")
        from .models import parse_device_map

        parse_device_map(args.device_map)  # a bad name, file or device is refused before anything loads
    args.device = "auto" if args.device is None else args.device
    if not DEVICE_PATTERN.match(str(args.device)):
        raise ValueError(f"`--device` must be auto, cpu, cuda, cuda:N or mps, got {args.device!r}")
    if args.threads is not None:
        positive_int("--threads", args.threads)
    positive_int("--prefixes", args.prefixes, minimum=min_prefixes)
    positive_int("--prefix-len", args.prefix_len, minimum=2)
    positive_int("--seed", args.seed, minimum=0)
    if args.text:
        _check_text(args.text)
    args.domains = parse_list("--domains", args.domains) if args.domains is not None else None
    for d in args.domains or ():
        if d not in ("natural", "code"):
            raise ValueError(f"`--domains` entries must be natural or code, got {d!r}")
    _check_out(args.out)


def output_directory(out, keep=()):
    """The run folder ``out`` held by this process alone (see :func:`.outdir.writing`: a second
    writer is refused; a failed run leaves the folder absent, or only with ``keep``, what a resume
    needs)."""
    from .outdir import writing

    return writing(out, keep=keep)


@contextmanager
def progress_bars(enabled: bool):
    """For the block (a model load): with ``enabled`` False, transformers' progress bars are off,
    and so is its GGUF converter's, which imports tqdm itself and so bypasses transformers' switch;
    both are restored afterwards (nothing process-wide outlives the call)."""
    if enabled:
        yield
        return
    from transformers.utils import logging as hf_logging

    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # no gguf package: no converter to silence
        gguf_utils = None
    was_enabled = hf_logging.is_progress_bar_enabled()
    converter_bar = getattr(gguf_utils, "tqdm", None)
    hf_logging.disable_progress_bar()
    if converter_bar is not None:
        import functools

        gguf_utils.tqdm = functools.partial(converter_bar, disable=True)
    try:
        yield
    finally:
        if converter_bar is not None:
            gguf_utils.tqdm = converter_bar
        if was_enabled:
            hf_logging.enable_progress_bar()
