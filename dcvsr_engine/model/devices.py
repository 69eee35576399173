"""Choosing the device and the compute dtype from "auto" or an explicit name."""

from __future__ import annotations

import torch
from dcvsr_protocol.errors import ModelError

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "half": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """"auto": CUDA if available, else MPS, else CPU. Explicit devices must be usable here."""
    if isinstance(device, torch.device):
        chosen = device
    elif device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    else:
        try:
            chosen = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise ModelError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from e
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!s} was asked for but this torch sees no CUDA GPU")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise ModelError(f"device {device!s} does not exist: {count} CUDA GPU(s) here")
    elif chosen.type == "mps" and not _mps_available():
        raise ModelError(f"device {device!s} was asked for but MPS is not available")
    elif chosen.type not in ("cpu", "cuda", "mps"):
        raise ModelError(f"unsupported device {device!s}: use auto, cpu, cuda, cuda:N or mps")
    return chosen


def pick_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """"auto": fp16 on GPUs (SVD's usual inference precision), fp32 on CPU."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ModelError(f"unsupported dtype {dtype}: use auto, fp32, fp16 or bf16")
        return dtype
    if dtype == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}: use auto, fp32, fp16 or bf16")
    return DTYPES[dtype]


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
