# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Data-parallel training helpers on top of `torch.distributed`.

The trainer runs one process per device (launched by ``torchrun``, which
sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``, or spawned by the caller
after `torch.distributed.init_process_group`). Every process holds a full
copy of the networks and the optimizers; after each backward pass the
gradients are averaged over the processes with one all-reduce of a flat
buffer, so all copies take identical optimizer steps. This is data
parallelism as in `~torch.nn.parallel.DistributedDataParallel`, written out
because DDP's bucketed hooks do not support the double backward of
gradient penalties (R1, WGAN-GP) nor the changing set of used parameters of
progressive growing.

Backends: NCCL on CUDA, gloo on CPU (used by the tests).
"""

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    'DistributedContext',
    'init_distributed',
    'is_distributed',
    'get_rank',
    'get_world_size',
    'all_reduce_grads',
    'all_reduce_mean',
    'all_gather_cat',
    'broadcast_module',
    'average_buffers',
    'barrier',
]

log = logging.getLogger(__name__)


@dataclass
class DistributedContext:
    """
    Where this process stands in a (possibly single-process) run.

    Attributes
    ----------
    rank : int
        Global rank (0 is the main process, which writes files and logs).
    world_size : int
        Number of processes.
    local_rank : int
        Rank on this machine (selects the CUDA device).
    initialized_here : bool
        Whether `init_distributed` created the process group (and should
        destroy it at the end).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self):
        """bool: whether this is rank 0."""
        return self.rank == 0

    def close(self):
        """Destroy the process group if it was created by `init_distributed`."""
        if self.initialized_here and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
            self.initialized_here = False


def is_distributed():
    """bool: whether a process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank():
    """int: this process's rank (0 when not distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size():
    """int: number of processes (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def init_distributed(device='cpu'):
    """
    Join the process group described by the environment, if any.

    Uses an already initialized process group when there is one; otherwise,
    when ``WORLD_SIZE`` > 1 is set (``torchrun``), initializes one with the
    NCCL backend for CUDA devices and gloo otherwise.

    Parameters
    ----------
    device : str or `torch.device`, optional
        The training device type.

    Returns
    -------
    `DistributedContext`
    """
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                                  local_rank=int(os.environ.get('LOCAL_RANK', 0)))
    world_size = int(os.environ.get('WORLD_SIZE', 1))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_available():
        msg = 'WORLD_SIZE > 1 but torch.distributed is not available in this torch build'
        raise RuntimeError(msg)
    device_type = torch.device(device).type
    backend = 'nccl' if device_type == 'cuda' else 'gloo'
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if device_type == 'cuda':
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    ctx = DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                             local_rank=local_rank, initialized_here=True)
    log.info('process %d of %d (%s backend)', ctx.rank, ctx.world_size, backend)
    return ctx


def all_reduce_grads(params):
    """
    Average the gradients of ``params`` over all processes (in place).

    Parameters whose ``grad`` is `None` are skipped; the set must be the same
    on every process (it is, since every process runs the same graph).
    Non-finite gradients are kept non-finite, so that a diverging process is
    noticed by every process.

    Parameters
    ----------
    params : list of `torch.nn.Parameter`
    """
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def all_reduce_mean(tensor):
    """
    The mean of a tensor over all processes (a new tensor; the input when alone).

    Parameters
    ----------
    tensor : `torch.Tensor`

    Returns
    -------
    `torch.Tensor`
    """
    if not is_distributed():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def all_gather_cat(tensor):
    """
    Concatenate along dimension 0 the equally-shaped tensors of all processes.

    Parameters
    ----------
    tensor : `torch.Tensor`

    Returns
    -------
    `torch.Tensor`
    """
    if not is_distributed():
        return tensor
    tensor = tensor.detach().contiguous()
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor)
    return torch.cat(parts)


def broadcast_module(module, *, src=0):
    """
    Copy the parameters and buffers of ``module`` from rank ``src`` to all.

    Parameters
    ----------
    module : `torch.nn.Module`
    src : int, optional
    """
    if not is_distributed():
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=src)


def average_buffers(module):
    """
    Average the floating-point buffers of ``module`` (e.g. ``w_avg``) over processes.

    Parameters
    ----------
    module : `torch.nn.Module`
    """
    if not is_distributed():
        return
    with torch.no_grad():
        for buf in module.buffers():
            if buf.is_floating_point():
                dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                buf /= dist.get_world_size()


def barrier():
    """Wait for all processes (no-op when alone)."""
    if is_distributed():
        dist.barrier()
