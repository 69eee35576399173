"""dcvsr engine: DC-VSR video super-resolution with SAP, TAP and DSSAG."""

__version__ = "0.1.0"
