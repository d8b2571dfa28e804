"""Measurement of truncation sensitivity in real causal LMs (``wzbounds validate``).

Installed as ``wzbounds.empirical``; needs the ``empirical`` extra (torch, transformers, gguf, tqdm).
Importing this package (or :mod:`.cli`) does not import torch; the modules that need it import it
inside their functions.

Modules: :mod:`.models` (loading, tiny test models, the SmolLM2 GGUF), :mod:`.corpora` (text and
prefix sampling), :mod:`.masks` (custom 4-D float masks), :mod:`.truncation` (the measurement:
batched and oracle), :mod:`.results` (JSONL rows, artifacts, schema), :mod:`.analysis` (fits via
:mod:`wzbounds.fitting`), :mod:`.pipeline` (stages, resume, shards, merge), :mod:`.distributed`
(torchrun), :mod:`.report` (plots, report.md), :mod:`.cli` (``validate``, ``merge``),
:mod:`.target_press` (``TargetDistortionPress``: a kvpress press sized for a target distortion by a
policy profile; imported on first use, it needs the ``kvpress`` extra).
"""


def __getattr__(name):
    if name == "TargetDistortionPress":  # kvpress and torch load only when it is asked for
        from .target_press import TargetDistortionPress

        return TargetDistortionPress
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
