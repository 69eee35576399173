"""Shared fixtures: one tiny model per test session, the test preset, pinned torch threads."""

from __future__ import annotations

import os

import pytest

# Bit-identity is promised for the same thread count: every test process pins it.
TORCH_THREADS = 1
os.environ.setdefault("OMP_NUM_THREADS", str(TORCH_THREADS))

# Small tiles, few steps, small frames: the whole sampler in a fraction of a second per segment.
TEST_PRESET = dict(steps=3, tile_size=16, tile_frames=6, segment_frames=12, decode_chunk=6, scale=2.0)


@pytest.fixture(autouse=True, scope="session")
def _pin_threads():
    import torch

    torch.set_num_threads(TORCH_THREADS)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from dcvsr_engine.model import make_tiny

    return make_tiny(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from dcvsr_engine.model import load_model

    return load_model(tiny_model_dir, device="cpu", dtype="fp32")


@pytest.fixture
def preset():
    from dcvsr_protocol.settings import Settings

    def make(**overrides):
        return Settings.for_model(None, **{**TEST_PRESET, **overrides})

    return make
