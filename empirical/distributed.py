"""Scale-out under ``torchrun``: prefixes are split across ranks by index, rank 0 samples the
prefixes first and writes the result after a barrier (torch.distributed; ``gloo`` on CPU,
``nccl`` on CUDA). Each rank measures on its own device (``cuda:<LOCAL_RANK>`` when available).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["DistContext", "from_environment", "parse_shard"]


@dataclass(frozen=True)
class DistContext:
    """This process's ``rank`` of ``world_size`` in an initialised default process group."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def from_environment(device: str = "auto"):
    """A :class:`DistContext` when launched by torchrun with ``WORLD_SIZE > 1`` (initialising the
    process group), else None. ``device`` ``"auto"`` picks ``nccl`` only when CUDA is present."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank, world, local, backend)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``."""
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"`--shard` must look like i/n (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"`--shard` i/n needs 0 <= i < n, got {text!r}")
    return i, n
