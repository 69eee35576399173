"""Training DC-VSR denoisers: data (videos, photos with synthetic motion), degradations, EDM training.

Import the submodules directly; this package's `__init__` stays light so `dcvsr --help` does not
pay for torch.
"""
