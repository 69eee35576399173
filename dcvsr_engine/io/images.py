"""Single still images -> float32 RGB.

PIL reads most formats but truncates 16-bit colour PNG to 8 bits and cannot read float RGB
TIFF, so 16-bit colour PNG goes through FFmpeg's PNG decoder (PyAV) and all TIFF through
tifffile.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import tifffile
from dcvsr_protocol.errors import InputError
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_TIFF = (".tif", ".tiff")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    try:
        if path.suffix.lower() in _TIFF:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                return int(page.imagewidth), int(page.imagelength)
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from exc


def read_image(path: Path) -> np.ndarray:
    """Decode to (H, W, 3) float32; integer images are scaled to [0, 1], alpha is dropped."""
    try:
        if path.suffix.lower() in _TIFF:
            return _read_tiff(path)
        if _is_deep_colour_png(path):
            return _read_png_deep(path)
        return _read_pil(path)
    except InputError:
        raise
    except (OSError, ValueError, av.FFmpegError, tifffile.TiffFileError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from exc


def _to_rgb(arr: np.ndarray, path: Path) -> np.ndarray:
    """(H, W) or (H, W, C) samples -> (H, W, 3) float32 in the file's nominal [0, 1] scale."""
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.unsignedinteger):
        data = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    elif np.issubdtype(arr.dtype, np.floating):
        data = arr.astype(np.float32)
    else:
        raise InputError(f"{path}: unsupported sample type {arr.dtype}")
    if data.ndim == 2:
        data = data[:, :, None]
    channels = data.shape[2]
    if channels in (1, 2):  # gray, gray + alpha
        return np.repeat(data[:, :, :1], 3, axis=2)
    if channels in (3, 4):  # RGB, RGBA
        return np.ascontiguousarray(data[:, :, :3])
    raise InputError(f"{path}: unsupported image with {channels} channels")


def _read_tiff(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        arr = page.asarray()
        axes = page.axes
        if page.photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None:
            # colormap is (3, 2**bits) uint16; index it with the pixel values
            return (page.colormap[:, arr].transpose(1, 2, 0).astype(np.float32) / 65535.0).copy()
    if axes.startswith("S") and arr.ndim == 3:  # planar (separate) RGB
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim not in (2, 3):
        raise InputError(f"{path}: unsupported TIFF layout {axes} {arr.shape}")
    return _to_rgb(arr, path)


def _is_deep_colour_png(path: Path) -> bool:
    """True for 16-bit truecolour PNG (colour type 2 or 6), read from the IHDR chunk."""
    if path.suffix.lower() != ".png":
        return False
    with path.open("rb") as f:
        head = f.read(26)
    return head[:8] == _PNG_SIGNATURE and len(head) == 26 and head[24] == 16 and head[25] in (2, 6)


def _read_png_deep(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0), None)
    if frame is None:
        raise InputError(f"{path}: PNG holds no image")
    channels = {"rgb48be": 3, "rgba64be": 4}.get(frame.format.name)
    if channels is None:
        raise InputError(f"{path}: unexpected PNG pixel format {frame.format.name}")
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=">u2").reshape(plane.height, -1)[:, : frame.width * channels]
    return _to_rgb(rows.reshape(frame.height, frame.width, channels).astype(np.uint16), path)


def _read_pil(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16L", "I;16B", "I"):  # 16-bit gray PNG
            arr = np.asarray(im).astype(np.float32) / 65535.0
            return np.repeat(arr[:, :, None], 3, axis=2)
        if im.mode == "F":
            return np.repeat(np.asarray(im, dtype=np.float32)[:, :, None], 3, axis=2)
        rgb = im if im.mode == "RGB" else im.convert("RGB")
        return np.asarray(rgb, dtype=np.float32) / 255.0
