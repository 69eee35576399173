"""Reading safetensors weights into a module built from its config, strictly.

Models are built on the meta device and the file's tensors are assigned in place, so a
multi-GB UNet is neither randomly initialised nor held twice in memory.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import torch
from dcvsr_protocol.errors import ModelError

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


def read_header(path: Path) -> tuple[bytes, int]:
    """The raw JSON header of a safetensors file and the offset where its data starts.

    Checks that the file is as long as the header says, so truncation is caught before loading.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelError(f"corrupt safetensors file {path}: shorter than its 8-byte header length")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER or 8 + n > size:
                raise ModelError(f"corrupt safetensors file {path}: bad header length {n} "
                                 f"(file is {size} bytes)")
            header = f.read(n)
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e}") from e
    try:
        meta = json.loads(header)
        ends = [int(v["data_offsets"][1]) for k, v in meta.items() if k != "__metadata__"]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise ModelError(f"corrupt safetensors file {path}: unreadable header ({e})") from e
    if 8 + n + max(ends, default=0) != size:
        raise ModelError(f"corrupt safetensors file {path}: the header describes "
                         f"{8 + n + max(ends, default=0)} bytes but the file has {size} (truncated?)")
    return header, 8 + n


def load_state(files: list[Path], dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """All tensors of `files` (one file or the shards of an index), floats cast to `dtype`."""
    from safetensors import safe_open

    # Straight onto a CUDA device (no CPU copy), one tensor at a time so that casting an fp32 file
    # to fp16 never holds both copies of the whole model.
    where = str(device) if device.type == "cuda" else "cpu"
    state: dict[str, torch.Tensor] = {}
    for path in files:
        read_header(path)
        try:
            with safe_open(str(path), framework="pt", device=where) as f:
                for key in f.keys():
                    if key in state:
                        raise ModelError(f"corrupt weights: tensor {key!r} appears twice ({path})")
                    tensor = f.get_tensor(key)
                    state[key] = tensor.to(dtype) if tensor.is_floating_point() else tensor
        except ModelError:
            raise
        except Exception as e:  # safetensors raises its own error types for bad files
            raise ModelError(f"corrupt safetensors file {path}: {e}") from e
    return state


def build_loaded(build: Callable[[], torch.nn.Module], files: list[Path], dtype: torch.dtype,
                 device: torch.device) -> torch.nn.Module:
    """`build()` on the meta device, then the weights of `files` assigned strictly."""
    with torch.device("meta"):
        module = build()
    state = load_state(files, dtype, device)
    expected = set(module.state_dict())
    # Non-persistent buffers (e.g. CLIP's position_ids) are not saved; some old files still hold them.
    transient = {name for name, _ in module.named_buffers()} - expected
    for key in transient & set(state):
        del state[key]
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    names = ", ".join(str(f) for f in files)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        raise ModelError(f"weights in {names} do not match the model's config: {'; '.join(parts)}")
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:  # shape mismatches
        raise ModelError(f"weights in {names} do not match the model's config: {e}") from e
    _materialise_transient(module, transient, device, names)
    # nn.Module.to, not diffusers' override, which warns about fp32-kept modules SVD does not have.
    torch.nn.Module.to(module, device=device, dtype=dtype)
    module.eval()
    module.requires_grad_(False)
    return module


def _materialise_transient(module: torch.nn.Module, transient: set[str], device: torch.device,
                           names: str) -> None:
    """Recreate the non-persistent buffers that stayed on the meta device."""
    for name in transient:
        owner_name, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        buf = getattr(owner, attr)
        if buf is None or buf.device.type != "meta":
            continue
        if attr == "position_ids":  # an arange over the positions, in every transformers model
            fresh = torch.arange(buf.shape[-1], device=device, dtype=buf.dtype).expand(buf.shape).clone()
            owner.register_buffer(attr, fresh, persistent=False)
        else:
            raise ModelError(f"cannot initialise buffer {name!r} of the model in {names}")
