"""Which UNet layers the DC-VSR processors go on, and installing them.

The paper's "first two and last two spatial self-attention layers" are found
by walking the UNet in forward order (down blocks, mid block, up blocks), so
the same code finds them in SVD's UNet and in smaller models of the same
class. For SVD they are down_blocks.0.attentions.{0,1} and
up_blocks.3.attentions.{1,2}, transformer_blocks.0.attn1. Temporal blocks
(`temporal_transformer_blocks`) also have an attn1: they are not spatial.
"""

from __future__ import annotations

import re

from diffusers.models.attention_processor import AttnProcessor2_0
from torch import nn

from .dssag import flattens
from .processor import PropagatedSelfAttnProcessor, SelfAttnProcessor
from .state import AttentionState

_SPATIAL = re.compile(
    r"^(down_blocks\.(\d+)|mid_block|up_blocks\.(\d+))\.attentions\.(\d+)\.transformer_blocks\.(\d+)\.attn1$")


def spatial_self_attention_layers(unet: nn.Module) -> list[str]:
    """Names of the spatial self-attention layers, in the order the UNet's forward runs them."""
    found = []
    for name, _ in unet.named_modules():
        m = _SPATIAL.match(name)
        if m:
            part = 0 if m.group(2) is not None else (1 if m.group(1) == "mid_block" else 2)
            block = int(m.group(2) or m.group(3) or 0)
            found.append(((part, block, int(m.group(4)), int(m.group(5))), name))
    return [name for _, name in sorted(found)]


def propagation_layers(unet: nn.Module) -> list[str]:
    """The first two and the last two spatial self-attention layers: where SAP and TAP act."""
    layers = spatial_self_attention_layers(unet)
    if len(layers) < 4:
        raise ValueError(f"the UNet has {len(layers)} spatial self-attention layers; DC-VSR needs at least 4")
    return layers[:2] + layers[-2:]


def install_processors(unet: nn.Module, dssag_layers: str = "spatial") -> AttentionState:
    """Put the DC-VSR processors on the UNet and return the state object they share.

    dssag_layers: 'spatial' puts DSSAG on every spatial self-attention layer,
    'propagation' only on the four SAP/TAP layers (the others get diffusers' plain processor).
    """
    state = AttentionState()
    propagated = set(propagation_layers(unet))
    for name in spatial_self_attention_layers(unet):
        module = unet.get_submodule(name)
        if name in propagated:
            module.set_processor(PropagatedSelfAttnProcessor(name, state))
        elif flattens(False, dssag_layers):
            module.set_processor(SelfAttnProcessor(name, state))
        else:
            module.set_processor(AttnProcessor2_0())
    return state
