"""Scale-out over processes: prefixes are split across ranks by index, rank 0 samples the
prefixes first and writes the result after a barrier (torch.distributed; ``gloo`` on CPU,
``nccl`` on CUDA). Each rank measures on its own device (``cuda:<LOCAL_RANK>`` when available).

Launchers: ``torchrun`` and ``accelerate launch --multi_gpu`` (which runs torchrun) set
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; ``accelerate launch --cpu --num_processes N
--mpirun_hostfile F`` runs ``mpirun``, whose ranks carry Open MPI's ``OMPI_COMM_WORLD_*`` or
MPICH/Intel MPI's ``PMI_*`` variables instead (accelerate sets ``MASTER_ADDR``/``MASTER_PORT``).
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


#: (world size, rank, local rank) variables of each launcher family, in the order they are read.
_LAUNCHER_VARIABLES = (("WORLD_SIZE", "RANK", "LOCAL_RANK"),
                       ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),
                       ("PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID"))


def launcher_ranks(environ=os.environ) -> tuple[int, int, int] | None:
    """``(world_size, rank, local_rank)`` from the first launcher family whose variables are set
    (see the module docstring), or None outside a multi-process launch."""
    for size, rank, local in _LAUNCHER_VARIABLES:
        if size in environ:
            world = int(environ[size])
            if world <= 1:
                return None
            r = int(environ[rank])
            return world, r, int(environ.get(local, r))
    return None


def from_environment(device: str = "auto"):
    """A :class:`DistContext` when launched with more than one process (initialising the process
    group), else None. ``device`` ``"auto"`` picks ``nccl`` only when CUDA is present."""
    ranks = launcher_ranks()
    if ranks is None:
        return None
    import torch
    import torch.distributed as dist

    world, rank, local = ranks
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
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
