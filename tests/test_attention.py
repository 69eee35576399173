"""SAP, TAP and DSSAG against explicit attention computed independently here."""

import math

import pytest
import torch
from diffusers.models.attention_processor import Attention

from dcvsr_engine.attention import (
    AttentionState,
    SAPCall,
    SAPGather,
    SAPLayout,
    TAPCall,
    TAPFrames,
    TileCall,
    propagation_layers,
)
from dcvsr_engine.attention.dssag import gamma_schedule
from dcvsr_engine.attention.processor import PropagatedSelfAttnProcessor, SelfAttnProcessor
from dcvsr_engine.sampler.tiles import SpatialGrid

C, HEADS = 16, 2
LAYER = "down_blocks.0.attentions.0.transformer_blocks.0.attn1"


@pytest.fixture
def attn():
    torch.manual_seed(0)
    return Attention(query_dim=C, heads=HEADS, dim_head=C // HEADS).double().eval()


def reference(attn, hidden, extra_hidden=None, gamma=0.0):
    """softmax(Q [K; K_extra]^T / (max(gamma^2 q k, 1) sqrt(d))) [V; V_extra], per row and head."""
    rows, n, _ = hidden.shape
    d = C // HEADS
    q, k, v = attn.to_q(hidden), attn.to_k(hidden), attn.to_v(hidden)
    if extra_hidden is not None:
        k = torch.cat([k, attn.to_k(extra_hidden)], 1)
        v = torch.cat([v, attn.to_v(extra_hidden)], 1)
    out = torch.empty(rows, n, C, dtype=hidden.dtype)
    for r in range(rows):
        for h in range(HEADS):
            qh, kh, vh = (t[r, :, h * d:(h + 1) * d] for t in (q, k, v))
            temp = max(gamma ** 2 * qh.abs().max().item() * kh.abs().max().item(), 1.0) * math.sqrt(d)
            out[r, :, h * d:(h + 1) * d] = torch.softmax(qh @ kh.T / temp, dim=-1) @ vh
    return attn.to_out[0](out)


def run(attn, processor, hidden, call):
    processor.state.call = call
    attn.set_processor(processor)
    with torch.no_grad():
        return attn(hidden)


def test_the_four_layers_of_the_svd_unet():
    from diffusers import UNetSpatioTemporalConditionModel

    from dcvsr_engine.model.tiny import svd_unet_config

    with torch.device("meta"):
        unet = UNetSpatioTemporalConditionModel.from_config(svd_unet_config())
    assert propagation_layers(unet) == [
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1",
        "down_blocks.0.attentions.1.transformer_blocks.0.attn1",
        "up_blocks.3.attentions.1.transformer_blocks.0.attn1",
        "up_blocks.3.attentions.2.transformer_blocks.0.attn1",
    ]


def test_sap_equals_attention_over_tile_and_gathered_whole_frame_tokens(attn):
    torch.manual_seed(1)
    frames, height, width, stride = 3, 24, 24, 2
    grid = SpatialGrid(height, width, 16, 0.5, multiple=8)
    assert len(grid.tiles) == 4
    whole = torch.randn(frames, height, width, C, dtype=torch.float64)  # one feature map per frame
    state = AttentionState()
    proc = PropagatedSelfAttnProcessor(LAYER, state)
    gathered = SAPGather(SAPLayout(grid, stride))

    def tile_hidden(t):
        return whole[:, t.rows, t.cols].reshape(frames, -1, C)

    for t in reversed(grid.tiles):  # any order: each position comes from exactly one tile
        run(attn, proc, tile_hidden(t), TileCall(frames, 1, (t.h, t.w), sap=SAPCall(t, record=gathered)))
    tile = grid.tiles[1]
    call = TileCall(frames, 1, (tile.h, tile.w), sap=SAPCall(tile, extend=gathered))
    out = run(attn, proc, tile_hidden(tile), call)
    # Independently: the whole frame subsampled every `stride` tokens per axis, row-major.
    extra = whole[:, ::stride, ::stride].reshape(frames, -1, C)
    assert torch.allclose(out, reference(attn, tile_hidden(tile), extra), atol=1e-10)
    # And it differs from plain attention, so the test can tell.
    assert not torch.allclose(out, reference(attn, tile_hidden(tile)), atol=1e-4)


def test_tap_appends_the_neighbours_most_detailed_frames(attn):
    torch.manual_seed(2)
    frames, n, L = 6, 16, 2
    neighbour = torch.randn(frames, n, C, dtype=torch.float64)
    neighbour[4] *= 3.0   # the most detailed frames: largest key std
    neighbour[1] *= 2.0
    current = torch.randn(frames, n, C, dtype=torch.float64)
    state = AttentionState()
    proc = PropagatedSelfAttnProcessor(LAYER, state)
    recorded = TAPFrames()
    run(attn, proc, neighbour, TileCall(frames, 1, (4, 4), tap=TAPCall(L, record=recorded)))

    with torch.no_grad():
        keys = attn.to_k(neighbour)
    stds = [keys[f].std().item() for f in range(frames)]
    expected = sorted(sorted(range(frames), key=lambda f: -stds[f])[:L])
    assert expected == [1, 4]
    assert recorded.selected[LAYER].tolist() == [expected]

    out = run(attn, proc, current, TileCall(frames, 1, (4, 4), tap=TAPCall(L, source=recorded)))
    extra = neighbour[expected].reshape(1, -1, C).expand(frames, -1, -1)
    assert torch.allclose(out, reference(attn, current, extra), atol=1e-10)


def test_tap_from_carried_context_frames_of_the_same_pass(attn):
    torch.manual_seed(3)
    frames, context = 6, 3
    hidden = torch.randn(frames, 16, C, dtype=torch.float64)
    hidden[2] *= 4.0
    proc = PropagatedSelfAttnProcessor(LAYER, AttentionState())
    out = run(attn, proc, hidden, TileCall(frames, 1, (4, 4), tap=TAPCall(1, context_frames=context)))
    extra = hidden[[2]].reshape(1, -1, C).expand(frames, -1, -1)
    assert torch.allclose(out, reference(attn, hidden, extra), atol=1e-10)


def test_dssag_flattens_only_the_unconditional_branch(attn):
    torch.manual_seed(4)
    frames = 2
    hidden = torch.randn(2 * frames, 16, C, dtype=torch.float64) * 4
    proc = SelfAttnProcessor(LAYER, AttentionState())
    out = run(attn, proc, hidden, TileCall(frames, 2, (4, 4), gamma=0.8))
    ref_uncond = reference(attn, hidden[:frames], gamma=0.8)
    ref_cond = reference(attn, hidden[frames:])
    assert torch.allclose(out[:frames], ref_uncond, atol=1e-10)
    assert torch.allclose(out[frames:], ref_cond, atol=1e-10)
    assert not torch.allclose(ref_uncond, reference(attn, hidden[:frames]), atol=1e-4)


def test_dssag_with_gamma_zero_is_bitwise_plain_attention(attn):
    hidden = torch.randn(4, 16, C, dtype=torch.float64)
    proc = SelfAttnProcessor(LAYER, AttentionState())
    assert torch.equal(run(attn, proc, hidden, TileCall(2, 2, (4, 4), gamma=0.0)),
                       run(attn, proc, hidden, None))


def test_gamma_schedule_directions():
    sigmas = (700.0, 70.0, 2.0, 0.002, 0.0)
    intent = gamma_schedule(sigmas, 0.5, "intent", 1.0)
    literal = gamma_schedule(sigmas, 0.5, "literal", 1.0)
    assert intent[0] == 1.0 and intent[-1] == 0.0 and intent == sorted(intent, reverse=True)
    assert literal[0] == 0.0 and literal[-1] == 1.0 and literal == sorted(literal)
    assert gamma_schedule(sigmas, 0.5, "intent", 0.0) == [0.0] * 4
