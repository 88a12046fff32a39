"""Where a run ran: host, torch device, the GPU it was given and by whom.

A sweep spread over GPUs or cluster nodes by a launcher (Ray's ``num_gpus``, Slurm's
``gpus_per_node``) pins each job through ``CUDA_VISIBLE_DEVICES``; recording it, with the
GPU's UUID (stable across that renumbering), lets ``summary.json`` show what ran where.
"""

from __future__ import annotations

import os
import socket

import torch


def placement(device: torch.device) -> dict:
    where = {"host": socket.gethostname(), "device": str(device),
             "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        where.update(gpu=props.name, gpu_uuid=str(getattr(props, "uuid", "")))
    return where
