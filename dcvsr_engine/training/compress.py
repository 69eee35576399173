"""Lossy compression of frames: JPEG per frame (PIL) and a video codec round trip (PyAV, in memory)."""

from __future__ import annotations

import io

import av
import numpy as np
import torch
from PIL import Image


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) in [0, 1] -> (T, H, W, 3) uint8, rounded."""
    return (frames.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def from_uint8(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0


def jpeg(frames: torch.Tensor, qualities: list[int]) -> torch.Tensor:
    """Each frame through a JPEG encode/decode at its own quality."""
    out = []
    for frame, quality in zip(to_uint8(frames), qualities, strict=True):
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        with Image.open(buf) as im:
            out.append(np.asarray(im.convert("RGB")))
    return from_uint8(np.stack(out))


def encode_video(frames: np.ndarray, codec: str, crf: int | None = None, bitrate: int | None = None,
                 fps: int = 24) -> bytes:
    """(T, H, W, 3) uint8 with even H and W -> a Matroska file in memory, yuv420p."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # One thread: multi-threaded encoders may make different decisions run to run.
        stream.codec_context.thread_count = 1
        options = {}
        if crf is not None:
            options["crf"] = str(int(crf))
        if bitrate is not None:
            stream.bit_rate = int(bitrate)
        stream.options = options
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def decode_video(data: bytes) -> np.ndarray:
    """A file in memory -> (T, H, W, 3) uint8 in presentation order."""
    with av.open(io.BytesIO(data), mode="r") as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames)


def video_roundtrip(frames: torch.Tensor, codec: str, crf: int | None = None,
                    bitrate: int | None = None) -> torch.Tensor:
    """(T, 3, H, W) in [0, 1] through `codec` and back; odd sizes are edge-padded for 4:2:0, then cropped."""
    t, _, h, w = frames.shape
    rgb = to_uint8(frames)
    rgb = np.pad(rgb, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    out = decode_video(encode_video(rgb, codec, crf=crf, bitrate=bitrate))
    if out.shape[0] != t:
        raise RuntimeError(f"{codec} round trip returned {out.shape[0]} frames for {t}")
    return from_uint8(out[:, :h, :w])
