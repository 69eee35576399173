"""ModelColour: a clip's frames into the values the model was trained on, and the model's output back.

Frames arrive as R'G'B' in [0, 1] (the decoder has undone the Y'CbCr matrix and range) in the
input's colour space; `to_model` converts them with one OpenColorIO processor into the model's
display encoding (spaces.model_space, plus headroom.py's mapping for HDR and scene-referred input),
and `from_model` converts the model's output with the inverse processor back into the input's space,
or on into `--output-colorspace`. For SDR Rec.709 or sRGB input both are identities and are skipped,
so those frames pass bit-exactly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import av
import numpy as np
import PyOpenColorIO as ocio
from dcvsr_protocol.errors import InputError

from .config import CONFIG, canonical_name, config, encoding
from .headroom import KNEE, into_model_range
from .spaces import PRIMARIES_UNSPECIFIED, TRANSFER_UNSPECIFIED, model_space, space_for_tags, tags_for_space

_SPLIT_ROWS = 64  # frames taller than this are converted in row strips on several threads

_EXTENDED = ("hdr-video", "scene-linear", "log")  # encodings with values beyond SDR white
T = TypeVar("T")


def resolve_space(name: str, what: str) -> str:
    space = canonical_name(name)
    if space is None:
        raise InputError(f"{what} {name!r} is not a colour space of the OpenColorIO config {CONFIG}; "
                         "`dcvsr colourspaces` lists them")
    if encoding(space) == "data":
        raise InputError(f"{what} {name!r} holds data, not colours")
    return space


@dataclass
class ModelColour:
    source: str  # the input's colour space
    output: str  # the output's colour space
    notes: tuple[str, ...] = ()  # assumptions made, for the log
    output_tags: tuple[int, int] | None = None  # (transfer, primaries) to write; None: the input's own
    model: str = field(init=False)  # the model's display encoding
    headroom: bool = field(init=False)  # HDR or scene-referred input: the roll-off applies

    def __post_init__(self) -> None:
        cfg = config()
        kind = encoding(self.source)
        self.model = model_space(self.source, kind)
        self.headroom = kind in _EXTENDED
        forward = ocio.GroupTransform()
        forward.appendTransform(ocio.ColorSpaceTransform(src=self.source, dst=self.model))
        if self.headroom:
            for step in into_model_range(self.source, hdr=kind == "hdr-video"):
                forward.appendTransform(step)
        back = ocio.GroupTransform()
        back.appendTransform(_inverted(forward))
        if self.output != self.source:
            back.appendTransform(ocio.ColorSpaceTransform(src=self.source, dst=self.output))
        self._forward = _cpu(cfg.getProcessor(forward))
        self._back = _cpu(cfg.getProcessor(back))

    @classmethod
    def for_clip(cls, transfer: int, primaries: int, width: int, height: int, input_space: str | None = None,
                 output_space: str | None = None) -> ModelColour:
        """From a stream's H.273 tags (or `input_space`, which replaces them) and an optional output space."""
        if input_space is not None:
            source, notes = resolve_space(input_space, "--input-colorspace"), ()
        else:
            resolved = space_for_tags(transfer, primaries, width, height)
            source, notes = resolved.space, resolved.notes
        if output_space is None:
            if input_space is None:
                return cls(source, source, notes)  # written back with the input's own tags
            output = source
        else:
            output = resolve_space(output_space, "--output-colorspace")
        tags = tags_for_space(output)
        if tags is None:
            notes = (*notes, f"{output} has no H.273 code: the output's transfer and primaries are "
                             "tagged unspecified")
            tags = (TRANSFER_UNSPECIFIED, PRIMARIES_UNSPECIFIED)
        return cls(source, output, notes, tags)

    def __reduce__(self) -> tuple[Any, ...]:
        # OpenColorIO's processors do not pickle: a copy (a cluster worker's) builds its own from the
        # same spaces, so it converts the same way.
        return (type(self), (self.source, self.output, self.notes, self.output_tags))

    @property
    def key(self) -> str:
        """What the conversion depends on, for cache keys."""
        return f"{CONFIG}|{self.source}|{self.model}|{self.output}|{KNEE if self.headroom else ''}"

    @property
    def is_identity(self) -> bool:
        return self._forward is None and self._back is None

    def to_model(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) R'G'B' in the input's space -> float32 in the model's display encoding, in [0, 1].

        Colours the encoding cannot hold (beyond the input's peak, e.g. a BT.2020 red brighter in
        Rec.709 terms than the peak) are clipped here, as the model's range requires. The identity
        (SDR Rec.709 in and out) returns a float32 frame as it is, without a copy.
        """
        if self._forward is None:
            return np.asarray(frame, dtype=np.float32)
        out = _apply(self._forward, frame)
        return np.clip(out, 0.0, 1.0, out=out)

    def from_model(self, frame: np.ndarray) -> np.ndarray:
        """The model's output -> float32 R'G'B' in the output's space (the identity: as it is)."""
        return np.asarray(frame, dtype=np.float32) if self._back is None else _apply(self._back, frame)

    def to_model_frames(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """Frames (an iterable of (H, W, 3)) -> one (N, H, W, 3) float32 array for the model."""
        return np.stack([self.to_model(f) for f in frames])

    def from_model_frames(self, frames: np.ndarray) -> np.ndarray:
        """The model's (N, H, W, 3) output -> the output's space; the identity costs nothing."""
        if self._back is None:
            return np.asarray(frames, dtype=np.float32)
        return np.stack([self.from_model(f) for f in frames])

    def tagged(self, tags: T) -> T:
        """The input's colour tags (a dataclass with transfer and primaries) as the output gets them."""
        if self.output_tags is None:
            return tags
        transfer, primaries = self.output_tags
        return dataclasses.replace(tags, transfer=transfer, primaries=primaries)

    def describe(self, video: Any = None) -> list[str]:
        """Log lines: the spaces, the mapping and the assumptions; with the output's video format (an
        object with a `pix_fmt`), a warning when an HDR output is written in fewer than 10 bits."""
        mapping = " with the invertible highlight roll-off (docs/colour.md)" if self.headroom else ""
        lines = [f"colour: {self.source} -> the model's {self.model}{mapping} -> {self.output} "
                 f"(OpenColorIO {ocio.__version__}, {CONFIG})"]
        lines += [f"colour: {note}" for note in self.notes]
        if video is not None and encoding(self.output) == "hdr-video" and _bits(video.pix_fmt) < 10:
            lines.append(f"colour: warning: {self.output} in {video.pix_fmt} ({_bits(video.pix_fmt)} bits) "
                         "bands visibly: give --pix-fmt yuv420p10le (libx264, libx265) or --preset archive")
        return lines


def _bits(pix_fmt: str) -> int:
    return av.VideoFormat(pix_fmt).components[0].bits


def _inverted(transform: ocio.GroupTransform) -> ocio.GroupTransform:
    return ocio.GroupTransform([transform], ocio.TRANSFORM_DIR_INVERSE)


def _cpu(processor: ocio.Processor) -> ocio.CPUProcessor | None:
    return None if processor.isNoOp() else processor.getDefaultCPUProcessor()


_WORKERS = min(8, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    # OpenColorIO's CPU processors are single-threaded and release the GIL: strips run in parallel.
    return ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="ocio")


def _apply(processor: ocio.CPUProcessor, frame: np.ndarray) -> np.ndarray:
    out = np.array(frame, dtype=np.float32, order="C", copy=True)  # converted in place
    if out.ndim != 3 or out.shape[2] != 3:
        raise InputError(f"colour conversion needs (height, width, 3) frames, got shape {out.shape}")
    if out.shape[0] <= _SPLIT_ROWS:
        processor.applyRGB(out)
        return out
    strips = np.array_split(out, min(out.shape[0] // _SPLIT_ROWS, 4 * _WORKERS))
    list(_pool().map(processor.applyRGB, strips))
    return out
