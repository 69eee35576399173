"""Resumable training state: a safetensors file of tensors and a JSON sidecar, no pickle.

    state.safetensors   param/<name>, ema/<name>, adam/<slot>/<name> (slots: step, exp_avg, exp_avg_sq)
    state.json          {"format": 1, "step": ..., "config": {...}, "losses": [...], "param_groups": [...]}

AdamW's state is stored per parameter name, so it does not depend on parameter order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from dcvsr_protocol.errors import ModelError

from ..jsonfile import read_json

FORMAT = 1
TENSORS, SIDECAR = "state.safetensors", "state.json"
_SLOTS = ("step", "exp_avg", "exp_avg_sq")


def save_state(folder: Path, params: dict[str, torch.Tensor], ema: dict[str, torch.Tensor],
               optimizer: torch.optim.Optimizer, meta: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    names = {id(p): k for k, p in params.items()}
    tensors: dict[str, torch.Tensor] = {}
    for k, p in params.items():
        tensors[f"param/{k}"] = p.detach().cpu().contiguous()
        tensors[f"ema/{k}"] = ema[k].cpu().contiguous()
    for group in optimizer.param_groups:
        for p in group["params"]:
            for slot, value in optimizer.state.get(p, {}).items():
                if slot not in _SLOTS:
                    raise ModelError(f"cannot save optimizer state {slot!r}")
                tensors[f"adam/{slot}/{names[id(p)]}"] = value.detach().cpu().contiguous()
    save_file(tensors, str(folder / TENSORS), metadata={"format": str(FORMAT)})
    groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    sidecar = {"format": FORMAT, **meta, "param_groups": groups}
    (folder / SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")


def read_meta(folder: Path) -> dict[str, Any]:
    path = folder / SIDECAR
    meta = read_json(path, ModelError, "training state")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a training state of format {FORMAT}")
    return meta


def load_state(folder: Path, params: dict[str, torch.Tensor], ema: dict[str, torch.Tensor],
               optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Fill params, EMA and optimizer from `folder` in place, strictly; returns the sidecar."""
    from safetensors.torch import load_file

    meta = read_meta(folder)
    try:
        tensors = load_file(str(folder / TENSORS))
    except Exception as e:  # safetensors raises its own error types
        raise ModelError(f"cannot read the training state {folder / TENSORS}: {e}") from e
    expected = {f"param/{k}" for k in params} | {f"ema/{k}" for k in params}
    present = {k for k in tensors if not k.startswith("adam/")}
    if present != expected:
        diff = sorted(present ^ expected)
        raise ModelError(f"{folder / TENSORS} does not match the UNet ({len(diff)} differing keys, "
                         f"e.g. {', '.join(diff[:3])})")
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(tensors[f"param/{k}"])
            ema[k].copy_(tensors[f"ema/{k}"])
    order = [k for group in optimizer.param_groups for k in _group_names(group, params)]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for i, k in enumerate(order):
        slots = {s: tensors[f"adam/{s}/{k}"] for s in _SLOTS if f"adam/{s}/{k}" in tensors}
        if slots:
            state[i] = slots
    groups, index = [], 0
    for saved, group in zip(meta["param_groups"], optimizer.param_groups, strict=True):
        groups.append({**saved, "params": list(range(index, index + len(group["params"])))})
        index += len(group["params"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return meta


def _group_names(group: dict[str, Any], params: dict[str, torch.Tensor]) -> list[str]:
    names = {id(p): k for k, p in params.items()}
    return [names[id(p)] for p in group["params"]]
