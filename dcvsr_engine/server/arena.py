"""One session's pixel slots: a single engine-owned segment, output slots first, then source slots.

The engine writes each slot's header once (format, strides, colour tags); a
hand-over then only updates generation, sequence and frame (slot.stamp).
"""

from __future__ import annotations

import os

import numpy as np
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.slot import (
    PixelFormat,
    SlotHeader,
    pixels,
    read_header,
    slot_size,
    stamp,
    write_header,
)
from dcvsr_protocol.transport import shm


class Arena:
    def __init__(self, name: str, out_fmt: PixelFormat, src_fmt: PixelFormat, n_out: int, n_src: int,
                 colour: ColourTags) -> None:
        out_bytes, src_bytes = slot_size(out_fmt), slot_size(src_fmt)
        self.name = name
        self.n_out = n_out
        self.offsets = [i * out_bytes for i in range(n_out)]
        self.offsets += [n_out * out_bytes + j * src_bytes for j in range(n_src)]
        self.sizes = [out_bytes] * n_out + [src_bytes] * n_src
        self.size = n_out * out_bytes + n_src * src_bytes
        self._shm = shm.create(name, self.size)
        if hasattr(os, "posix_fallocate"):
            # Reserve the pages now: a full /dev/shm then fails here, not as SIGBUS on first write.
            try:
                os.posix_fallocate(self._shm._fd, 0, self.size)
            except OSError as e:
                self._shm.unlink()
                shm.close_quietly(self._shm)
                raise MemoryError(f"not enough shared memory for {self.size / 2**20:.0f} MiB of slots ({e}); "
                                  "free some, enlarge /dev/shm or use the inline transport") from e
        self.buf = self._shm.buf
        for slot, (offset, size) in enumerate(zip(self.offsets, self.sizes, strict=True)):
            fmt = out_fmt if slot < n_out else src_fmt
            write_header(self.buf, offset, SlotHeader.for_format(fmt, size - 4096, colour))

    @property
    def source_slots(self) -> list[int]:
        return list(range(self.n_out, len(self.offsets)))

    def header(self, slot: int) -> SlotHeader:
        return read_header(self.buf, self.offsets[slot])

    def view(self, slot: int) -> np.ndarray:
        """The slot's pixels in its layout's shape (from the engine's own header: trusted)."""
        return pixels(self.buf, self.offsets[slot], self.header(slot), self.sizes[slot])

    def stamp(self, slot: int, sequence: int, frame: int) -> None:
        stamp(self.buf, self.offsets[slot], sequence=sequence, frame=frame)

    def destroy(self) -> None:
        """Unlink the name (clients keep their mappings until they unmap) and unmap here."""
        try:
            self._shm.unlink()  # through the object, so the resource tracker forgets it too
        except FileNotFoundError:
            pass
        self.buf = None
        shm.close_quietly(self._shm)
