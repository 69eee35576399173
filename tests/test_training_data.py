"""Training data: sources with licences, the manifest, video crops and photos with camera motion."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dcvsr_protocol.errors import InputError
from PIL import Image

from dcvsr_engine.io import open_clip
from dcvsr_engine.training.dataset import ClipDataset, DataConfig
from dcvsr_engine.training.motion import MotionConfig, random_trajectory, render
from dcvsr_engine.training.sources import expand_sources, manifest, read_sources


def pattern(height: int, width: int, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    """(H, W, 3) in [0, 1]: a few smooth waves in random directions (texture at every orientation)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.full((height, width, 3), 0.5)
    for _ in range(6):
        angle, period, phase = rng.uniform(0, np.pi), rng.uniform(12, 30), rng.uniform(0, 2 * np.pi, 3)
        t = ((xx + shift) * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period
        out += 0.07 * np.sin(t[..., None] + phase)
    return np.clip(out, 0, 1)


def write_photo(path: Path, height: int = 160, width: int = 200, seed: int = 0) -> Path:
    Image.fromarray((pattern(height, width, seed=seed) * 255).round().astype(np.uint8)).save(path)
    return path


def write_video(path: Path, frames: int = 10, height: int = 96, width: int = 112) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12"}
        for f in range(frames):
            rgb = (pattern(height, width, shift=2.0 * f) * 255).round().astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def write_sources(folder: Path, entries: list[dict]) -> Path:
    path = folder / "sources.json"
    path.write_text(json.dumps(entries))
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    write_photo(root / "photo.png")
    write_video(root / "video.mp4")
    (root / "album").mkdir()
    for i in range(3):
        write_photo(root / "album" / f"p{i}.jpg", 120, 130, seed=i + 1)
    return root


def test_sources_without_a_licence_are_refused(media):
    for entry in ({"path": "photo.png"}, {"path": "photo.png", "licence": "  "},
                  {"path": "photo.png", "licence": None}):
        path = write_sources(media, [{"path": "video.mp4", "licence": "CC0-1.0"}, entry])
        with pytest.raises(InputError, match=r"source 1 .*no licence"):
            read_sources(path)
    with pytest.raises(InputError, match="non-empty"):
        read_sources(write_sources(media, []))


def test_manifest_lists_every_file_with_its_licence(media):
    path = write_sources(media, [
        {"path": "video.mp4", "licence": "CC-BY-4.0", "origin": "https://example.org/v"},
        {"path": "photo.png", "license": "CC0-1.0"},
        {"path": "album", "licence": "own work", "kind": "photos"},
    ])
    sources = expand_sources(read_sources(path), frames=4, crop=48)
    m = manifest(sources)
    listed = {Path(s["path"]).name: s for s in m["sources"]}
    assert set(listed) == {"video.mp4", "photo.png", "p0.jpg", "p1.jpg", "p2.jpg"}
    assert listed["video.mp4"]["licence"] == "CC-BY-4.0" and listed["video.mp4"]["kind"] == "video"
    assert listed["video.mp4"]["origin"] == "https://example.org/v" and listed["video.mp4"]["frames"] == 10
    assert listed["photo.png"]["licence"] == "CC0-1.0" and listed["photo.png"]["kind"] == "photo"
    assert {listed[f"p{i}.jpg"]["licence"] for i in range(3)} == {"own work"}
    assert all(s["bytes"] > 0 for s in m["sources"])
    assert m["licences"] == ["CC-BY-4.0", "CC0-1.0", "own work"]


def test_unusable_sources_are_refused(media):
    path = write_sources(media, [{"path": "video.mp4", "licence": "CC0-1.0"}])
    with pytest.raises(InputError, match="10 frames, but clips of 12"):
        expand_sources(read_sources(path), frames=12, crop=48)
    with pytest.raises(InputError, match="smaller than the 128-pixel crop"):
        expand_sources(read_sources(path), frames=4, crop=128)
    missing = write_sources(media, [{"path": "nope.mp4", "licence": "CC0-1.0"}])
    with pytest.raises(InputError, match="no such file"):
        expand_sources(read_sources(missing), frames=4, crop=48)


def test_clips_are_deterministic_and_video_clips_are_crops_of_the_video(media):
    path = write_sources(media, [{"path": "video.mp4", "licence": "CC0-1.0"}])
    data = ClipDataset(expand_sources(read_sources(path), 4, 48), DataConfig(frames=4, crop=48, hflip=False))
    a, b, c = data.sample(0, 3, 0), data.sample(0, 3, 0), data.sample(0, 4, 0)
    assert a.shape == (4, 3, 48, 48) and torch.equal(a, b) and not torch.equal(a, c)
    decoded = np.stack(list(open_clip(media / "video.mp4").frames()))
    clip = a.permute(0, 2, 3, 1).numpy()
    found = []
    for start in range(10 - 4 + 1):  # the clip is some window and crop of the decoded video
        ys, xs = np.nonzero((decoded[start] == clip[0, 0, 0]).all(-1))  # where its corner pixel could be
        found += [(start, y, x) for y, x in zip(ys, xs, strict=True)
                  if np.array_equal(decoded[start:start + 4, y:y + 48, x:x + 48], clip)]
    assert len(found) == 1


def _best_shift(prev: torch.Tensor, nxt: torch.Tensor) -> tuple[float, float, float, float]:
    """The (dx, dy) on a quarter-pixel grid that best maps frame k onto frame k+1; its and no shift's MSE."""
    c = prev.shape[-1]
    offs = torch.arange(c, dtype=torch.float64)
    inner = slice(8, c - 8)
    shifts = torch.arange(-4, 4.01, 0.25, dtype=torch.float64)
    dy, dx = (s.flatten() for s in torch.meshgrid(shifts, shifts, indexing="ij"))
    u = offs[None, None, :] + dx[:, None, None]  # (shifts, 1, c) -> broadcast over rows
    v = offs[None, :, None] + dy[:, None, None]
    u, v = torch.broadcast_tensors(u, v)
    grid = torch.stack([(2 * u + 1) / c - 1, (2 * v + 1) / c - 1], -1).float()
    moved = F.grid_sample(prev[None].expand(len(dx), -1, -1, -1), grid, mode="bicubic", align_corners=False)
    errs = (moved - nxt[None])[:, :, inner, inner].pow(2).mean(dim=(1, 2, 3))
    i = int(errs.argmin())
    still = float((prev - nxt)[:, inner, inner].pow(2).mean())
    return float(dx[i]), float(dy[i]), float(errs[i]), still


def test_photo_motion_is_a_consistent_shift_between_frames():
    photo = torch.from_numpy(pattern(160, 200, seed=3)).permute(2, 0, 1).float()
    pan = MotionConfig(max_pan=3.0, max_zoom=0.0, max_rotation=0.0, acceleration=0.0)
    traj = random_trajectory(np.random.default_rng(1), 4, 40, 160, 200, pan)
    frames = render(photo, traj, 40)
    assert frames.shape == (4, 3, 40, 40)
    velocity = (traj.cx[1] - traj.cx[0], traj.cy[1] - traj.cy[0])
    assert max(abs(velocity[0]), abs(velocity[1])) > 0.5  # this seed moves the camera
    for k in range(3):
        dx, dy, err, still = _best_shift(frames[k], frames[k + 1])
        # Frame k+1 is frame k moved by the trajectory's per-frame pan.
        assert abs(dx - velocity[0]) <= 0.25 and abs(dy - velocity[1]) <= 0.25
        assert err < 0.05 * still


def test_photo_clips_with_zoom_and_rotation_still_move_smoothly(media):
    path = write_sources(media, [{"path": "photo.png", "licence": "CC0-1.0"}])
    data = ClipDataset(expand_sources(read_sources(path), 4, 40),
                       DataConfig(frames=4, crop=40, hflip=False, photo_scale=(1.0, 1.0)))
    moved = 0
    for step in range(3):
        clip = data.sample(7, step, 0)
        assert clip.shape == (4, 3, 40, 40) and torch.equal(clip, data.sample(7, step, 0))
        for k in range(3):
            _, _, err, still = _best_shift(clip[k], clip[k + 1])
            # Mostly a shift: zoom and rotation are at most 1% and 0.3 degrees per frame.
            assert err <= 0.05 * still + 1e-6
            moved += still > 1e-4
    assert moved >= 6
