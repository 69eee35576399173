"""Spatial self-attention processors for the DC-VSR sampler.

`SelfAttnProcessor` is diffusers' scaled-dot-product self-attention with
DSSAG's flattening on the unconditional rows. `PropagatedSelfAttnProcessor`,
installed on the four layers SAP and TAP act on, also appends the tokens SAP
and TAP provide. Both read the current pass from the shared AttentionState;
outside the sampler (no call set) they are plain attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .dssag import flatten_unconditional
from .sap import sap_tokens
from .state import AttentionState, TileCall
from .tap import tap_tokens


class SelfAttnProcessor:
    def __init__(self, layer: str, state: AttentionState):
        self.layer, self.state = layer, state

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args, **kwargs) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None or hidden_states.ndim != 3:
            raise RuntimeError(f"{self.layer}: expected plain spatial self-attention")
        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)
        call = self.state.call
        if call is not None:
            extra = self.extra_tokens(call, attn, hidden_states, key, value)
            if extra:
                key = torch.cat([key, *(k for k, _ in extra)], dim=1)
                value = torch.cat([value, *(v for _, v in extra)], dim=1)

        rows, heads = hidden_states.shape[0], attn.heads
        head_dim = key.shape[-1] // heads
        query = query.view(rows, -1, heads, head_dim).transpose(1, 2)
        key = key.view(rows, -1, heads, head_dim).transpose(1, 2)
        value = value.view(rows, -1, heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if call is not None:
            query = flatten_unconditional(query, key, call.gamma, call.branches, call.frames)

        out = F.scaled_dot_product_attention(query, key, value)
        out = out.transpose(1, 2).reshape(rows, -1, heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor

    def extra_tokens(self, call: TileCall, attn, hidden: torch.Tensor, key: torch.Tensor,
                     value: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return []


class PropagatedSelfAttnProcessor(SelfAttnProcessor):
    """Self-attention extended with SAP's whole-frame tokens and TAP's neighbour frames."""

    def extra_tokens(self, call: TileCall, attn, hidden: torch.Tensor, key: torch.Tensor,
                     value: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        extra = []
        if call.sap is not None:
            factor, _, _ = call.layer_grid(key.shape[1])
            tokens = sap_tokens(self.layer, call.sap, factor, hidden,
                                lambda h: (attn.to_k(h), attn.to_v(h)))
            if tokens is not None:
                extra.append(tokens)
        if call.tap is not None:
            tokens = tap_tokens(self.layer, call.tap, call.branches, key, value)
            if tokens is not None:
                extra.append(tokens)
        return extra
