"""The DC-VSR renderer: sessions that stream a clip's canonical segments through the sampler.

A session renders whole canonical segments (sampler.plan.segments: fixed by the clip length, the
settings and the cut list, never by the requests), so every order and size of requests computes
the same segments with the same carried state, and gets the same pixels (README.md, "How the
method is implemented" and "The frame server"). What links requests:

- in memory: the last rendered (or wholly loaded) segment's output frames and the last outgoing
  carried state, so a request that continues the previous one recomputes nothing;
- on disk (frame_cache.py): every rendered segment's output, in the clip's dtype, and its
  outgoing carried state, under a content key (segment_key) chained along the segment's chain:
  key_k = H(key_{k-1} or a chain-start marker, H(source bytes of k), position, settings, model,
  device, dtype, threads, output dtype). An edited source frame changes its own segment's key and,
  with TAP, the later keys of its chain; nothing else.

A key needs the source hashes of the chain's earlier segments, so a session hashes each segment's
source frames once (reading them from the client when it first needs the key) and keeps the keys
(source frames are assumed not to change while a session is open).

Progress is reported in UNet tile passes (the sampler's unit): `total` is what the request will
run, known after hashing; a request served wholly from memory or disk reports 0 of 0.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from dcvsr_protocol.errors import DCVSRError, SettingsError
from dcvsr_protocol.settings import DEFAULT_QUALITY, Settings, check_quality

from .. import __version__
from ..colour import ModelColour
from ..model.quality import model_for
from ..sampler.carry import CarriedState
from ..sampler.memory import MemoryLimitError, allowance, available_memory, fit_segments
from ..sampler.pipeline import DCVSRSampler, check_frame
from ..sampler.segments import Segment
from . import limits
from .frame_cache import CARRY, FRAMES, FrameCache
from .renderer import CancelledFn, ClipSpec, ProgressFn, Renderer, RenderSession, SourceFn

log = logging.getLogger("dcvsr.renderer")

KEY_FORMAT = "dcvsr-segment-v4"  # bump when the sampler's output for the same inputs changes
SESSION_KEYS = ("model", "device", "dtype", "quality")  # session settings besides Settings' fields
HELD_SOURCE_BYTES = 256 << 20  # source frames read for hashing, kept within a request to render them
_SETTING_NAMES = frozenset(f.name for f in fields(Settings))
_CLIP_DTYPES = {"u8": np.uint8, "u16": np.uint16, "f16": np.float16, "f32": np.float32}


# -- pixels --------------------------------------------------------------------------------------
def to_clip_dtype(frames: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """The sampler's float32 output in [0, 1] as the clip's dtype (integers rounded to nearest)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        top = np.float32(np.iinfo(dtype).max)
        return np.rint(np.clip(frames, 0.0, 1.0) * top).astype(dtype)
    return np.ascontiguousarray(frames, dtype=dtype)


# -- keys ------------------------------------------------------------------------------------------
def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def source_hash(frames: np.ndarray) -> str:
    """Digest of a segment's source frames exactly as the client sent them (dtype, shape, bytes)."""
    h = hashlib.sha256(f"{frames.dtype.str}{frames.shape}".encode())
    h.update(memoryview(np.ascontiguousarray(frames)).cast("B"))
    return h.hexdigest()


def session_base_key(settings: Settings, fingerprint: str, device: torch.device, dtype: torch.dtype,
                     threads: int, clip_dtype: str, in_hw: tuple[int, int], colour: str) -> str:
    """Everything besides the frames that the pixels depend on (the determinism contract's scope)."""
    return _digest([KEY_FORMAT, __version__, torch.__version__, settings.key(), fingerprint, str(device),
                    str(dtype), threads, clip_dtype, list(in_hw), colour])


def segment_key(base: str, previous: str | None, sources: str, segment: Segment, following: int) -> str:
    """The key of a segment's output and outgoing state. `previous`: the key of the segment it
    continues (None at a chain start); `following`: the context the next segment takes from it."""
    return _digest([base, previous or "chain-start", sources, segment.start, segment.stop, segment.context,
                    following])


# -- the renderer ----------------------------------------------------------------------------------
@dataclass
class Stats:
    """Counters over the renderer's life (benchmarks and logs read them)."""

    passes: int = 0               # UNet tile passes run
    segments_rendered: int = 0
    outputs_from_memory: int = 0  # segments whose frames came from the session's last output
    outputs_from_disk: int = 0
    carries_from_disk: int = 0
    source_frames_read: int = 0


class DCVSRRenderer(Renderer):
    """Created once per engine. model: the default model (a folder or an installed name; default
    DCVSR_MODEL, else the installed dc-vsr), preloaded; sessions may name another "model", "device"
    or "dtype" in their settings. Models are kept by (folder, device, dtype). DCVSR_THREADS pins the
    torch thread count (part of the determinism contract's scope)."""

    name = "dcvsr"

    def __init__(self, model: str | os.PathLike | None = None, device: str = "auto", dtype: str = "auto",
                 cache: FrameCache | None = None) -> None:
        threads = os.environ.get("DCVSR_THREADS")
        if threads:
            torch.set_num_threads(int(threads))
        named = model if model is not None else os.environ.get("DCVSR_MODEL") or None
        self.default_model = os.fspath(named) if named is not None else None
        self.device, self.dtype = device, dtype
        self.cache = cache if cache is not None else FrameCache.from_env()
        self.counters = Stats()
        self._models: dict[tuple[str, str, str], Any] = {}
        try:
            self._model(self.default_model, device, dtype)
        except DCVSRError as e:
            if named is not None:  # asked for explicitly: the engine reports it as not ready
                raise
            log.warning("no default model loaded (%s); sessions must name one", e)
        # What a session may use: the allowance less what the engine holds with its model loaded.
        self.memory_allowance = allowance()
        self.session_memory = available_memory()
        log.info("DC-VSR renderer: memory allowance %.1f GiB (%.1f GiB per session)",
                 self.memory_allowance / 2**30, self.session_memory / 2**30)
        log.info("DC-VSR renderer: cache %s (%s), torch threads %d", self.cache.directory,
                 f"{self.cache.max_bytes / 2**30:.1f} GiB" if self.cache.enabled else "off",
                 torch.get_num_threads())

    def _model(self, model: str | None, device: str, dtype: str) -> Any:
        from ..model import load_model, resolve_model_path
        from ..model.devices import pick_device, pick_dtype

        path = resolve_model_path(model)
        dev = pick_device(device)
        dt = pick_dtype(dtype, dev)
        key = (os.fspath(Path(path).resolve()), str(dev), str(dt))
        if key not in self._models:
            log.info("loading model %s on %s (%s)", path, dev, dt)
            self._models[key] = load_model(path, dev, dt)
        return self._models[key]

    def open(self, spec: ClipSpec) -> DCVSRSession:
        settings = dict(spec.settings)
        unknown = sorted(set(settings) - _SETTING_NAMES - set(SESSION_KEYS))
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)} (known: the dcvsr upscale "
                                f"settings and {', '.join(SESSION_KEYS)})")
        if spec.channels != 3:
            raise SettingsError(f"the DC-VSR renderer needs RGB frames (3 channels); this clip has "
                                f"{spec.channels}")
        if spec.dtype not in _CLIP_DTYPES:
            raise SettingsError(f"unsupported sample type {spec.dtype!r} (u8, u16, f16 or f32)")
        chosen = {}
        for name in SESSION_KEYS:
            value = settings.pop(name, None)
            if value is not None and not isinstance(value, str):
                raise SettingsError(f"{name} must be text, got {value!r}")
            chosen[name] = value
        quality = check_quality(chosen["quality"] or DEFAULT_QUALITY)
        try:
            model = self._model(model_for(chosen["model"] or self.default_model, quality),
                                chosen["device"] or self.device, chosen["dtype"] or self.dtype)
        except DCVSRError as e:
            raise SettingsError(f"model: {e}") from e
        # SettingsError names the bad value
        return DCVSRSession(spec, DCVSRSampler.open(model, quality, **settings), self.cache, self.counters,
                            self.session_memory)

    def close(self) -> None:
        self._models.clear()

    def stats(self) -> dict[str, bool | int | float | str | None]:
        out: dict[str, bool | int | float | str | None] = asdict(self.counters)
        out["models_loaded"] = len(self._models)
        out["devices"] = ",".join(sorted({str(m.device) for m in self._models.values()})) or None
        # "name on device (dtype)" for each loaded model: what `dcvsr status` and `dcvsr doctor` show.
        out["models"] = "; ".join(f"{Path(path).name} on {dev} ({dt.removeprefix('torch.')})"
                                  for path, dev, dt in self._models) or None
        if torch.cuda.is_available():
            out["gpu_memory_allocated"] = torch.cuda.memory_allocated()
        out["cache_dir"] = os.fspath(self.cache.root) if self.cache else None
        out["cache_bytes"] = self.cache.held_bytes() if self.cache else 0
        return out


class _Cancelled(Exception):
    """Raised out of the sampler's progress callback to stop a segment early."""


class DCVSRSession(RenderSession):
    """One clip with fixed settings. See the module's docstring for what it keeps."""

    def __init__(self, spec: ClipSpec, sampler: DCVSRSampler, cache: FrameCache, stats: Stats,
                 memory: int | None = None) -> None:
        self.spec = spec
        self.sampler = sampler
        self.settings = settings = sampler.settings
        model = sampler.model
        self.cache = cache
        self.stats = stats
        self.dtype = np.dtype(_CLIP_DTYPES[spec.dtype])
        self.model = model
        self._footage_open = settings.footage == "auto"  # decided from the clip before the first render
        # The session's tags say what the frames are; the model gets its own display encoding (OCIO).
        tags = spec.colour
        self.colour = ModelColour.for_clip(tags.transfer, tags.primaries, spec.width, spec.height)
        for line in self.colour.describe():
            log.info("%s: %s", spec.clip, line)
        try:
            self.geo = self.sampler.plan.geometry(spec.height, spec.width)
        except DCVSRError as e:
            raise SettingsError(str(e)) from e
        self.out_size = (self.geo.out_w, self.geo.out_h)
        limits.check_output(*self.out_size)
        if memory is not None:  # checked before anything of the size of a frame is allocated
            try:
                fitted, self.memory = fit_segments(model, settings, self.geo, memory, self.dtype.itemsize,
                                                   chosen="segment_frames" in spec.settings)
            except MemoryLimitError as e:
                raise limits.OverLimit(str(e)) from None
            if fitted is not settings:
                log.info("%s: segments of %d frames (the default %d needs more than the %.1f GiB allowed)",
                         spec.clip[:40], fitted.segment_frames, settings.segment_frames, memory / 2**30)
                self.sampler, self.settings = DCVSRSampler(model, fitted), fitted
        try:
            self.segments = self.sampler.plan.segments(spec.frames, spec.cuts)
        except DCVSRError as e:
            raise SettingsError(str(e)) from e
        self.source_window = 1  # source frames are copied out as soon as they are read
        self._tiles = len(self.sampler.plan.spatial_grid(self.geo).tiles)
        self._keyed()
        self._keys: dict[int, str] = {}  # segment -> key, known for a prefix of each chain
        self._last_output: tuple[str, np.ndarray] | None = None  # (key, the segment's frames)
        self._last_carry: tuple[str, CarriedState] | None = None  # (key of the segment that made it, state)

    def _keyed(self) -> None:
        """The keys that depend on the settings (footage=auto changes them once it is decided)."""
        model = self.model
        self._chain_key = self.sampler.chain_key(self.geo)
        self._base = session_base_key(self.settings, model.fingerprint, model.device, model.dtype,
                                      torch.get_num_threads(), self.spec.dtype,
                                      (self.spec.height, self.spec.width), self.colour.key)

    def _decide_footage(self, sources: SourceFn) -> None:
        """footage=auto: decide the clip's kind from frames that depend only on its length (model/footage.py),
        before any key is made, so every request order gets the same decision and keys."""
        if not self._footage_open:
            return
        def read(i: int) -> np.ndarray:
            return check_frame(np.array(sources(i)), i, self.geo)

        sampler = self.sampler.for_clip(read, self.spec.frames,
                                        lambda text: log.info("%s: %s", self.spec.clip[:40], text))
        self._footage_open = False
        if sampler is not self.sampler:
            self.sampler, self.settings = sampler, sampler.settings
            self._keyed()

    # -- planning (pure) -------------------------------------------------------------------------
    def _targets(self, start: int, stop: int) -> range:
        return range(self.segments.index_of(start), self.segments.index_of(stop - 1) + 1)

    def _following(self, j: int) -> int:
        return self.segments[j + 1].context if j + 1 < len(self.segments) else 0

    def _output_known(self, j: int) -> bool:
        key = self._keys.get(j)
        if key is None:
            return False
        return (self._last_output is not None and self._last_output[0] == key) or self.cache.has(key, FRAMES)

    def _carry_known(self, j: int) -> bool:
        """Whether the state carried into segment j (made by j-1) is in memory or on disk."""
        key = self._keys.get(j - 1)
        if key is None:
            return False
        return (self._last_carry is not None and self._last_carry[0] == key) or self.cache.has(key, CARRY)

    def _schedule(self, start: int, stop: int, cancelled: CancelledFn = lambda: False,
                  bounds_only: bool = False) -> tuple[range, list[int]]:
        """(the segments whose source frames are read, as the range from the first to the last; the
        segments rendered, in order) for a request. Segments not hashed yet are read to hash them, and
        assumed to miss the cache. Each segment is looked at once; with `bounds_only` (PLAN), the
        unhashed rest of a chain is taken in one step (keys are known for a prefix of each chain, so
        all of it is read and rendered): the cost is then the hashed segments plus the chains."""
        lo, hi = len(self.segments), -1

        def read(first: int, last: int) -> None:
            nonlocal lo, hi
            lo, hi = min(lo, first), max(hi, last)

        renders: list[int] = []
        done: set[int] = set()  # rendered earlier in this request: output and carry in memory
        hashed_to = -1  # segments up to here were looked at for hashing
        targets = self._targets(start, stop)
        t = targets.start
        while t < targets.stop:
            if cancelled():  # the asker is gone: what was found so far is not used
                break
            j, hashed_to = max(self.segments.chain_start(t), hashed_to + 1), t
            while j <= t and j in self._keys:  # keys are known for a prefix of the chain: the rest is read
                j += 1
            if j <= t:
                read(j, t)
            if t in done or self._output_known(t):
                t += 1
                continue
            if bounds_only and t not in self._keys:
                # From the chain's first unhashed segment on no carried state is known: all of it to the
                # range's (or the chain's) end is rendered, and what renders it starts further back.
                h = self.segments.chain_start(t)
                while h in self._keys:
                    h += 1
                last = min(self.segments.chain_end(t), targets.stop - 1)
                read(self._render_from(h, done), last)
                hashed_to = t = last
            else:
                first = self._render_from(t, done)
                renders += range(first, t + 1)
                done.update(range(first, t + 1))
                read(first, t)
            t += 1
        return range(lo, hi + 1), renders

    def _render_from(self, j: int, done: set[int]) -> int:
        """The segment rendering j starts from: back to a carried state we have, or the chain start."""
        while self.segments[j].context and j - 1 not in done and not self._carry_known(j):
            j -= 1
        return j

    def sources_needed(self, start: int, stop: int, cancelled: CancelledFn = lambda: False) -> range:
        """Bounded by the segments of the range and their chains; stops early when cancelled() says so."""
        reads, _ = self._schedule(start, stop, cancelled, bounds_only=True)
        if not reads:
            return range(0)
        return range(self.segments[reads.start].start, self.segments[reads.stop - 1].stop)

    def _passes(self, j: int) -> int:
        return self.sampler.plan.segment_passes(self.segments[j], self._tiles)

    # -- rendering ---------------------------------------------------------------------------------
    def render(self, start: int, stop: int, sources: SourceFn, progress: ProgressFn,
               cancelled: CancelledFn) -> Iterator[tuple[int, np.ndarray]]:
        targets = self._targets(start, stop)
        self._decide_footage(sources)
        held = self._hash(targets, sources)
        _, order = self._schedule(start, stop)
        planned = set(order)
        total = sum(self._passes(j) for j in order)
        done = [0]
        progress(0, total)
        log.info("frames %d..%d of %s: segments %d..%d, rendering %d of them (%d passes)", start, stop - 1,
                 self.spec.clip[:40], targets.start, targets.stop - 1, len(order), total)
        for t in targets:
            if cancelled():
                return
            seg = self.segments[t]
            lo, hi = max(start, seg.start), min(stop, seg.stop)
            frames = self._stored_output(t, lo, hi)
            if frames is None:
                j0, carry = self._carry_point(t)
                try:
                    for j in range(j0, t + 1):
                        if cancelled():
                            return
                        if j not in planned:  # a cache entry vanished since planning
                            total += self._passes(j)
                        source = held.pop(j, None)
                        if source is None:
                            source = self._read(j, sources)
                        carry = self._render(j, source, carry, done, total, progress, cancelled)
                except _Cancelled:
                    return
                assert self._last_output is not None
                frames = self._last_output[1][lo - seg.start:hi - seg.start]
            for k in range(hi - lo):
                yield lo + k, frames[k]
        if done[0] != total:  # the plan changed under us (cache entries came or went): say what ran
            progress(done[0], done[0])

    def _read(self, j: int, sources: SourceFn) -> np.ndarray:
        """Segment j's source frames, copied out of the slots (which are reused)."""
        seg = self.segments[j]
        out = np.empty((seg.frames, self.spec.height, self.spec.width, 3), self.dtype)
        for k, i in enumerate(range(seg.start, seg.stop)):
            out[k] = sources(i)
        self.stats.source_frames_read += seg.frames
        return out

    def _hash(self, targets: range, sources: SourceFn) -> dict[int, np.ndarray]:
        """Make the keys of every target's chain up to the target known; returns the source frames
        read on the way, the latest ones within HELD_SOURCE_BYTES (they are likely rendered next)."""
        held: dict[int, np.ndarray] = {}
        hashed_to = -1
        for t in targets:
            first, hashed_to = max(self.segments.chain_start(t), hashed_to + 1), t
            for j in range(first, t + 1):
                if j in self._keys:
                    continue
                frames = self._read(j, sources)
                previous = self._keys[j - 1] if self.segments[j].context else None
                self._keys[j] = segment_key(self._base, previous, source_hash(frames), self.segments[j],
                                            self._following(j))
                held[j] = frames
                while sum(f.nbytes for f in held.values()) > HELD_SOURCE_BYTES and len(held) > 1:
                    del held[min(held)]
        return held

    def _stored_output(self, t: int, lo: int, hi: int) -> np.ndarray | None:
        """Output frames lo..hi-1 of segment t from memory or disk, or None."""
        key, seg = self._keys[t], self.segments[t]
        if self._last_output is not None and self._last_output[0] == key:
            self.stats.outputs_from_memory += 1
            return self._last_output[1][lo - seg.start:hi - seg.start]
        shape = (seg.frames, self.geo.out_h, self.geo.out_w, 3)
        frames = self.cache.get_frames(key, shape, self.dtype, lo - seg.start, hi - seg.start)
        if frames is not None:
            self.stats.outputs_from_disk += 1
            if hi - lo == seg.frames:  # a whole segment: keep it, a continuing request may want it
                self._last_output = (key, frames)
        return frames

    def _carry_point(self, t: int) -> tuple[int, CarriedState | None]:
        """The segment to start rendering from to get t, and the state carried into it."""
        j = t
        while self.segments[j].context:
            carry = self._stored_carry(j)
            if carry is not None:
                return j, carry
            j -= 1
        return j, None

    def _stored_carry(self, j: int) -> CarriedState | None:
        """The state carried into segment j, from memory or disk, if it fits (else None)."""
        key, seg = self._keys[j - 1], self.segments[j]
        if self._last_carry is not None and self._last_carry[0] == key:
            return self._last_carry[1]
        state = self.cache.get_carry(key)
        if state is None:
            return None
        if not state.fits(self._chain_key, seg.start, seg.context, self.settings.steps):
            log.warning("cache entry %s.carry does not fit segment %d; ignoring it", key, j)
            return None
        self.stats.carries_from_disk += 1
        self._last_carry = (key, state)
        return state

    def _render(self, j: int, source: np.ndarray, carry: CarriedState | None, done: list[int], total: int,
                progress: ProgressFn, cancelled: CancelledFn) -> CarriedState | None:
        """Render segment j, store its output and carried state; returns the state for j+1."""
        seg, key = self.segments[j], self._keys[j]
        lr = self.colour.to_model_frames(check_frame(f, seg.start + k, self.geo)
                                         for k, f in enumerate(source))
        before = self.sampler.passes
        base = done[0]

        def step(_segment: Segment, passes: int, _total: int) -> None:
            done[0] = base + passes
            progress(done[0], total)
            if cancelled():
                raise _Cancelled

        try:
            frames, new_carry = self.sampler.render_segment(seg, lr, self.geo, carry, self._following(j),
                                                            step, self._to_clip_dtype)
        finally:
            self.stats.passes += self.sampler.passes - before
        self.stats.segments_rendered += 1
        self._last_output = (key, frames)
        self.cache.put_frames(key, frames)
        if new_carry is not None:
            self._last_carry = (key, new_carry)
            self.cache.put_carry(key, new_carry)
        return new_carry

    def _to_clip_dtype(self, frames: np.ndarray) -> np.ndarray:
        return to_clip_dtype(self.colour.from_model_frames(frames), self.dtype)

    def close(self) -> None:
        self._last_output = self._last_carry = None
        self._keys.clear()
