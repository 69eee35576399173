"""Attention processors: SAP (sap.py), TAP (tap.py), DSSAG (dssag.py), and where they go (layers.py)."""

from .layers import install_processors, propagation_layers, spatial_self_attention_layers
from .sap import SAPCall, SAPGather, SAPLayout
from .state import AttentionState, TileCall
from .tap import TAPCall, TAPFrames

__all__ = [
    "AttentionState", "SAPCall", "SAPGather", "SAPLayout", "TAPCall", "TAPFrames", "TileCall",
    "install_processors", "propagation_layers", "spatial_self_attention_layers",
]
