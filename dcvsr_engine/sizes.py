"""Sizes people type: '8G', '512M', '1000000'."""

from __future__ import annotations


def parse_size(text: str) -> int:
    """'8G', '512M', '1000000' -> bytes (K/M/G/T are powers of 1024)."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    value = int(float(number) * factor)
    if value < 0:
        raise ValueError(f"negative size {text!r}")
    return value
