"""One session's pixel slots: a single engine-owned segment, output slots first, then source slots.

The engine writes each slot's header once (format, strides, colour tags); a hand-over then only
updates generation, sequence and frame (slot.stamp). The segment is never mapped here: slots are
read and written through its descriptor (dcvsr_protocol.transport.shm explains why), so a client
that truncates its segment fails its own requests with a slot error and cannot crash the engine.
Source pixels are therefore read into the engine's own memory, where the client cannot change
them while the renderer reads them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.slot import (
    DATA_OFFSET,
    SLOT_HEADER_SIZE,
    PixelFormat,
    SlotHeader,
    pixels,
    read_header,
    slot_size,
    stamp,
)
from dcvsr_protocol.transport.shm import SharedMemory


class Arena:
    def __init__(self, names: Callable[[], str], out_fmt: PixelFormat, src_fmt: PixelFormat, n_out: int,
                 n_src: int, colour: ColourTags) -> None:
        out_bytes, src_bytes = slot_size(out_fmt), slot_size(src_fmt)
        self.n_out = n_out
        self.offsets = [i * out_bytes for i in range(n_out)]
        self.offsets += [n_out * out_bytes + j * src_bytes for j in range(n_src)]
        self.sizes = [out_bytes] * n_out + [src_bytes] * n_src
        self.formats = [out_fmt] * n_out + [src_fmt] * n_src
        self.size = n_out * out_bytes + n_src * src_bytes
        self._shm = SharedMemory.create(names, self.size)  # MemoryError when /dev/shm is full
        self.name = self._shm.name
        try:
            for slot, (offset, size) in enumerate(zip(self.offsets, self.sizes, strict=True)):
                header = SlotHeader.for_format(self.formats[slot], size - DATA_OFFSET, colour)
                self._shm.write(offset, header.pack())
        except BaseException:
            self.destroy()
            raise

    @property
    def source_slots(self) -> list[int]:
        return list(range(self.n_out, len(self.offsets)))

    def header(self, slot: int) -> SlotHeader:
        raw = bytearray(SLOT_HEADER_SIZE)
        self._shm.read(self.offsets[slot], raw)
        return read_header(memoryview(raw), 0)

    def read(self, slot: int) -> tuple[SlotHeader, np.ndarray]:
        """The slot's header and a copy of its pixels in its layout's shape (the header's strides are
        checked against the slot's bounds, so a hostile header cannot reach outside it)."""
        raw = np.empty(self.sizes[slot], np.uint8)
        self._shm.read(self.offsets[slot], memoryview(raw))
        header = read_header(memoryview(raw), 0)
        return header, pixels(memoryview(raw), 0, header, self.sizes[slot])

    def write(self, slot: int, data: np.ndarray, sequence: int, frame: int) -> None:
        """Hand pixels over (an array in the slot's layout): write them (rows unpadded, as version-1 writers
        do), then stamp the header."""
        offset = self.offsets[slot]
        self._shm.write(offset + DATA_OFFSET, memoryview(np.ascontiguousarray(data)).cast("B"))
        raw = bytearray(SLOT_HEADER_SIZE)
        self._shm.read(offset, raw)
        stamp(memoryview(raw), 0, sequence=sequence, frame=frame)
        self._shm.write(offset, raw)

    def destroy(self) -> None:
        """Unlink the name (clients keep their mappings until they unmap) and close it here."""
        self._shm.unlink()
        self._shm.close()
