"""Device and dtype choice: "auto" rules and explicit names."""

from __future__ import annotations

import pytest
import torch
from dcvsr_protocol.errors import ModelError

from dcvsr_engine.model.devices import pick_device, pick_dtype


def test_auto_dtype_is_fp32_on_cpu_and_fp16_on_gpus():
    assert pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert pick_dtype("auto", torch.device("cuda")) == torch.float16
    assert pick_dtype("auto", torch.device("mps")) == torch.float16


@pytest.mark.parametrize(("name", "dtype"), [("fp32", torch.float32), ("fp16", torch.float16),
                                             ("bf16", torch.bfloat16), ("bfloat16", torch.bfloat16)])
def test_explicit_dtypes(name, dtype):
    assert pick_dtype(name, torch.device("cpu")) == dtype


def test_auto_device_follows_what_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


def test_unusable_devices_are_plain_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="no CUDA GPU"):
        pick_device("cuda")
    with pytest.raises(ModelError, match="unknown device"):
        pick_device("gpu0")
    with pytest.raises(ModelError, match="unknown dtype"):
        pick_dtype("fp8", torch.device("cpu"))
