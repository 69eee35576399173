"""Pixel slots: a fixed header at the start of each slot in an engine-owned segment, pixels after it.

Slot header, 128 bytes, little-endian (bytes 68..127 are reserved, zero):

    offset size field
    0      4    magic        b"DVSL"
    4      2    version      1
    6      2    header_size  128
    8      4    generation   pixel writes into this slot so far (the writer adds 1 per write)
    12     1    dtype        1 u8, 2 u16, 3 f16, 4 f32
    13     1    layout       0 interleaved (rows of pixels of channels), 1 planar (planes of rows)
    14     2    channels
    16     8    sequence     the seq of the message handing the pixels over
    24     8    frame        frame index
    32     4    width
    36     4    height
    40     4    row_stride   bytes from one row to the next
    44     4    data_offset  bytes from the slot's start to the first pixel (4096)
    48     8    plane_stride bytes from one plane to the next (0 when interleaved)
    56     8    capacity     bytes available for pixels from data_offset
    64     1    matrix       H.273 MatrixCoefficients
    65     1    transfer     H.273 TransferCharacteristics
    66     1    primaries    H.273 ColourPrimaries
    67     1    range        0 limited, 1 full

Readers honour the strides; writers of version 1 write rows without padding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

import numpy as np

from .colour import ColourTags

SLOT_MAGIC = b"DVSL"
SLOT_VERSION = 1
SLOT_HEADER = struct.Struct("<4sHHIBBHQQIIIIQQBBBB")
SLOT_HEADER_SIZE = 128
DATA_OFFSET = 4096  # pixels start page-aligned
ALIGN = 4096

DTYPES: dict[str, tuple[int, np.dtype]] = {
    "u8": (1, np.dtype("<u1")),
    "u16": (2, np.dtype("<u2")),
    "f16": (3, np.dtype("<f2")),
    "f32": (4, np.dtype("<f4")),
}
DTYPE_BY_CODE = {code: name for name, (code, _dt) in DTYPES.items()}
LAYOUTS = {"interleaved": 0, "planar": 1}
LAYOUT_BY_CODE = {code: name for name, code in LAYOUTS.items()}
CHANNELS = (1, 3, 4)


class SlotError(ValueError):
    """A slot header that does not match what the message announced."""


@dataclass(frozen=True)
class PixelFormat:
    """How one frame's pixels lie in a slot (and the shape of the arrays both sides exchange)."""

    width: int
    height: int
    dtype: str = "f16"
    channels: int = 3
    layout: str = "interleaved"

    @property
    def np_dtype(self) -> np.dtype:
        return DTYPES[self.dtype][1]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape in this layout: (H, W, C) interleaved, (C, H, W) planar."""
        if self.layout == "planar":
            return (self.channels, self.height, self.width)
        return (self.height, self.width, self.channels)

    @property
    def nbytes(self) -> int:
        return self.width * self.height * self.channels * self.np_dtype.itemsize

    def scaled(self, width: int, height: int) -> PixelFormat:
        return replace(self, width=width, height=height)


def slot_size(fmt: PixelFormat) -> int:
    """Bytes one slot for fmt takes, page-aligned."""
    return -(-(DATA_OFFSET + fmt.nbytes) // ALIGN) * ALIGN


@dataclass
class SlotHeader:
    generation: int
    dtype: int
    layout: int
    channels: int
    sequence: int
    frame: int
    width: int
    height: int
    row_stride: int
    data_offset: int
    plane_stride: int
    capacity: int
    matrix: int = 2
    transfer: int = 2
    primaries: int = 2
    range: int = 1

    def pack(self) -> bytes:
        packed = SLOT_HEADER.pack(
            SLOT_MAGIC, SLOT_VERSION, SLOT_HEADER_SIZE, self.generation, self.dtype, self.layout,
            self.channels, self.sequence, self.frame, self.width, self.height, self.row_stride,
            self.data_offset, self.plane_stride, self.capacity, self.matrix, self.transfer,
            self.primaries, self.range)
        return packed + bytes(SLOT_HEADER_SIZE - len(packed))

    @classmethod
    def unpack(cls, data: bytes | memoryview) -> SlotHeader:
        fields = SLOT_HEADER.unpack_from(data)
        magic, version, size = fields[:3]
        if magic != SLOT_MAGIC or version != SLOT_VERSION or size != SLOT_HEADER_SIZE:
            raise SlotError("not a version 1 slot header")
        return cls(*fields[3:])

    @classmethod
    def for_format(cls, fmt: PixelFormat, capacity: int, colour: ColourTags) -> SlotHeader:
        """A tight (unpadded) header for fmt; generation, sequence and frame start at 0."""
        item = fmt.np_dtype.itemsize
        if fmt.layout == "planar":
            row, plane = fmt.width * item, fmt.width * fmt.height * item
        else:
            row, plane = fmt.width * fmt.channels * item, 0
        return cls(generation=0, dtype=DTYPES[fmt.dtype][0], layout=LAYOUTS[fmt.layout],
                   channels=fmt.channels, sequence=0, frame=0, width=fmt.width, height=fmt.height,
                   row_stride=row, data_offset=DATA_OFFSET, plane_stride=plane, capacity=capacity,
                   **colour.as_fields())

    def format(self) -> PixelFormat:
        if self.dtype not in DTYPE_BY_CODE or self.layout not in LAYOUT_BY_CODE:
            raise SlotError("unknown dtype or layout code in slot header")
        return PixelFormat(self.width, self.height, DTYPE_BY_CODE[self.dtype], self.channels,
                           LAYOUT_BY_CODE[self.layout])


def read_header(buf: memoryview, offset: int) -> SlotHeader:
    return SlotHeader.unpack(buf[offset:offset + SLOT_HEADER_SIZE])


def write_header(buf: memoryview, offset: int, header: SlotHeader) -> None:
    buf[offset:offset + SLOT_HEADER_SIZE] = header.pack()


def stamp(buf: memoryview, offset: int, *, sequence: int, frame: int) -> None:
    """After writing pixels: add one to the generation and record the hand-over's sequence and frame."""
    (generation,) = struct.unpack_from("<I", buf, offset + 8)
    struct.pack_into("<I", buf, offset + 8, (generation + 1) & 0xFFFFFFFF)
    struct.pack_into("<QQ", buf, offset + 16, sequence, frame)


def pixels(buf: memoryview, offset: int, header: SlotHeader, slot_bytes: int) -> np.ndarray:
    """A view of a slot's pixels in its layout's shape, honouring the header's strides.

    The header is checked against the slot's bounds, so a corrupt or hostile header cannot make
    the view reach outside the slot.
    """
    fmt = header.format()
    item = fmt.np_dtype.itemsize
    if fmt.layout == "planar":
        strides = (header.plane_stride, header.row_stride, item)
    else:
        strides = (header.row_stride, fmt.channels * item, item)
    shape = fmt.shape
    if min(shape) <= 0:
        raise SlotError("empty frame in slot header")
    extent = sum((n - 1) * s for n, s in zip(shape, strides, strict=True)) + item
    if (header.data_offset < SLOT_HEADER_SIZE or min(strides) < 0
            or header.data_offset + extent > min(slot_bytes, header.data_offset + header.capacity)):
        raise SlotError("slot header describes pixels outside the slot")
    return np.ndarray(shape, dtype=fmt.np_dtype, buffer=buf, offset=offset + header.data_offset,
                      strides=strides)
