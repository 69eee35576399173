"""The filter: vsdcvsr.upscale(clip, ...) -> a clip of the scaled size. See README.md for the design.

The graph, for input clip `src`:

    rgb      = resize(src -> RGBS, or RGBH for half-float input), with the clip's colour tags
    template = BlankClip(rgb, out size)           (a static frame: the shape of every output frame)
    attempt  = FrameEval(template, attempt)       (one render attempt per output frame)
    out_rgb  = FrameEval(template, final, prop_src=[attempt, src])
    result   = resize(out_rgb -> the output format) + the colour props

attempt(n) never waits for VapourSynth frames: it asks the engine (PLAN) which source frames the
render of n's chunk needs and returns a ModifyFrame over those frames (each a one-frame clip
rgb[k]), so VapourSynth fetches them before the ModifyFrame callback renders. A chunk whose plan
reaches back into earlier segments of its TAP chain first waits, through FrameEval's prop_src, for
out_rgb's last frame of the previous segment: VapourSynth renders the chain one segment at a time
(bounded memory), and by then the engine needs only this segment's frames. final(n) passes the frame
on with the source frame's props, or, when the engine's needs grew after planning (a cache entry
vanished, the engine restarted), returns a second, strict attempt that plans afresh.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import vapoursynth as vs
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.scenes import detect_cuts

from . import colour, options
from .link import EngineLink, LinkError, Missing

NAME = "vsdcvsr.upscale"
RETRY_PROP = "VSDCVSRRetry"
COLOUR_PROPS = frozenset({"_Matrix", "_Transfer", "_Primaries", "_Range", "_ChromaLocation"})
DROPPED_PROPS = frozenset({"_Alpha"})  # a frame of the input's size: cannot follow the upscale
SCENE_PROPS = ("_SceneChangePrev", "_SceneChangeNext")
NOMINAL_FPS = (24, 1)  # what the engine is told for a variable-frame-rate clip (it does not use it)


def _error(message: str) -> vs.Error:
    return vs.Error(f"{NAME}: {message}")


def _vs_argument_errors(function: Callable[..., vs.VideoNode]) -> Callable[..., vs.VideoNode]:
    """Arguments that do not fit the signature give a vs.Error naming them, as every other mistake does."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> vs.VideoNode:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as e:
            raise _error(f"{e}; the arguments are: {', '.join(signature.parameters)}") from None
        return function(*args, **kwargs)

    return checked


# The settings' names, types, defaults and help come from dcvsr_protocol.settings.Settings: written out
# here for readers and editors, and tests/test_vsdcvsr.py fails when they drift apart from it
# (options.docstring prints the docstring to paste).
@_vs_argument_errors
def upscale(clip: vs.VideoNode,
            scale: float = 4.0,
            *,
            steps: int | None = None,
            seed: int = 0,
            footage: str = "auto",
            start_sigma: float | None = None,
            static_noise: float | None = None,
            tile_size: int | None = None,
            tile_frames: int | None = None,
            tile_overlap: float | None = None,
            frame_overlap: float | None = None,
            segment_frames: int | None = None,
            guidance: float | None = None,
            sap: bool = True,
            tap: bool = True,
            dssag: bool = True,
            sap_stride: int | None = None,
            sap_gather: str | None = None,
            tap_frames: int | None = None,
            dssag_rho: float | None = None,
            dssag_direction: str | None = None,
            dssag_gamma_max: float | None = None,
            dssag_layers: str | None = None,
            fps_id: int | None = None,
            motion_bucket_id: int | None = None,
            noise_aug_strength: float | None = None,
            decode_chunk: int | None = None,
            model: str | os.PathLike | None = None,
            device: str | None = None,
            dtype: str | None = None,
            quality: str | None = None,
            format: Any = None,
            cuts: Sequence[int] | None = None,
            scene_props: bool = True,
            scene_detect: bool = True) -> vs.VideoNode:
    """DC-VSR super-resolution of a VapourSynth clip, rendered by the dcvsr engine (started if none runs,
    unless DCVSR_AUTOSTART=0). Returns a clip of the scaled size, with the same length, frame rate and frame
    props, in the input's format unless `format` is given.

    Settings (the dcvsr settings; None = the model's default):
        scale (float, default 4.0): output size / input size
        steps (int | None, default None): diffusion steps (Euler, Karras sigmas)
        seed (int, default 0): noise seed; noise is a function of (seed, frame, latent position)
        footage (str, default 'auto'): one of auto, clean, degraded; what the input is, for models with a
            restorer (nano): 'clean' (sharp and noiseless, e.g. a downscale), 'degraded' (blurred, noisy or
            compressed), 'auto' (decided once per clip from frames evenly spaced over it, when the model's
            restorer has a classifier)
        start_sigma (float | None, default None): noise level sampling starts at: above 0, the condition's
            own picture (the restored upscale) noised to this level (SDEdit), so the steps add detail to it;
            0, pure noise at the model's largest level
        static_noise (float | None, default None): share of each frame's initial noise drawn from one clip-
            wide field where the condition does not change from the neighbouring frame (0: independent noise
            per frame)
        tile_size (int | None, default None): spatial tile size in latent pixels (8 output pixels each)
        tile_frames (int | None, default None): temporal tile (window) length in frames
        tile_overlap (float | None, default None): spatial overlap of neighbouring tiles, as a fraction of
            the tile
        frame_overlap (float | None, default None): temporal overlap of neighbouring windows, as a fraction
        segment_frames (int | None, default None): frames per canonical segment: memory is bounded by one
            segment; TAP crosses segment boundaries forward only, through the carried state
        guidance (float | None, default None): guidance scale s: eps' + (1+s)(eps - eps'); 0 skips the
            unconditional pass
        sap (bool, default True): spatial attention propagation on even steps
        tap (bool, default True): temporal attention propagation on odd steps
        dssag (bool, default True): detail-suppression self-attention in the unconditional branch
        sap_stride (int | None, default None): SAP subsampling stride per axis of the gathered keys and
            values
        sap_gather (str | None, default None): one of previous, exact; where SAP's whole-frame keys and
            values come from: 'exact' runs the paper's extra gather pass on every SAP step; 'previous'
            reuses those recorded in the previous step's passes
        tap_frames (int | None, default None): TAP: frames taken from the neighbouring window (largest key
            std)
        dssag_rho (float | None, default None): DSSAG schedule exponent rho
        dssag_direction (str | None, default None): one of intent, literal; DSSAG schedule: 'intent' is
            strongest at high noise, 'literal' follows the paper's formula read with i=0 as the noisiest
            step
        dssag_gamma_max (float | None, default None): DSSAG gamma at its strongest (0 makes DSSAG plain CFG)
        dssag_layers (str | None, default None): one of spatial, propagation; layers whose unconditional
            attention DSSAG flattens: every spatial self-attention ('spatial') or only SAP/TAP's four
            ('propagation')
        fps_id (int | None, default None): SVD added time id: frame rate minus one
        motion_bucket_id (int | None, default None): SVD added time id: motion bucket
        noise_aug_strength (float | None, default None): SVD added time id: conditioning noise strength
        decode_chunk (int | None, default None): frames per VAE decode chunk (chunks start at segment
            starts)
    Engine session:
        model: the model: an installed model's name or a model folder (None: the engine's default model)
        device: the engine's device: 'cpu', 'cuda', 'cuda:1', 'mps' or 'auto' (None: the engine's choice)
        dtype: the engine's compute type: 'fp32', 'fp16', 'bf16' or 'auto' (None: the engine's choice)
        quality: 'standard' (None): the model's standard preset (a few steps from its restored upscale);
            'full': the model's full sampling; 'preview': the model's fast preset, and the small CPU model
            'nano' when no model is named (for scrubbing a timeline)
    Plugin:
        format: output format (a vs.PresetVideoFormat, format id or VideoFormat); None: the input's format
        cuts: first frames of new scenes (nothing is propagated across a cut); None: read from the clip's
            _SceneChangePrev/_SceneChangeNext props when scene_props is True, else detected when
            scene_detect is True
        scene_props: read the scene-change props of every frame when upscale() is called (a full pass over
            the source, done only when frame 0 carries them); False skips it
        scene_detect: without cuts or scene-change props, detect the cuts with dcvsr's detector (the one
            `dcvsr upscale` runs, so both cut a clip alike): a full pass over the source when upscale() is
            called; False renders the clip as one shot
    """
    values = dict(locals())  # the arguments by name, exactly as the signature above gives them
    clip = values.pop("clip")
    try:
        settings = options.settings_for_engine(values)
    except options.OptionError as e:
        raise _error(str(e)) from None
    core = vs.core.core
    in_fmt = _check_clip(clip)
    out_fmt = _output_format(core, values["format"], in_fmt)
    first = clip.get_frame(0)
    props = dict(first.props)
    del first
    field_based = props.get("_FieldBased", 0)
    if isinstance(field_based, int) and field_based > 0:
        raise _error(f"the clip is interlaced (_FieldBased={field_based} on frame 0): deinterlace it first "
                     "(e.g. with bwdif or QTGMC), or set _FieldBased=0 if its frames are progressive")
    cuts = _cuts(clip, props, values["cuts"], values["scene_props"], values["scene_detect"])
    return _Graph.build(core, clip, in_fmt, out_fmt, props, settings, cuts)



# -- checks -------------------------------------------------------------------------------------------
def _check_clip(clip: Any) -> vs.VideoFormat:
    if not isinstance(clip, vs.VideoNode):
        raise _error(f"clip must be a vs.VideoNode, got {type(clip).__name__}")
    fmt = clip.format
    if fmt is None or fmt.id == 0 or fmt.color_family == vs.UNDEFINED:
        raise _error("the clip's format varies from frame to frame: give it one format first, "
                     "e.g. core.resize.Bicubic(clip, format=vs.YUV420P8)")
    if clip.width == 0 or clip.height == 0:
        raise _error("the clip's frame size varies from frame to frame: give it one size first, "
                     "e.g. core.resize.Bicubic(clip, width, height)")
    _check_format(fmt, "the clip's format")
    return fmt


def _check_format(fmt: vs.VideoFormat, what: str) -> None:
    if fmt.color_family not in (vs.YUV, vs.RGB):
        raise _error(f"{what} {fmt.name} is not YUV or RGB: convert it first, e.g. "
                     "core.resize.Bicubic(clip, format=vs.YUV444P16)")
    if fmt.sample_type == vs.INTEGER and not 8 <= fmt.bits_per_sample <= 16:
        raise _error(f"{what} {fmt.name} has {fmt.bits_per_sample}-bit samples; integer formats of 8 to 16 "
                     "bits, half and single float are supported")
    if fmt.sample_type == vs.FLOAT and fmt.bits_per_sample not in (16, 32):
        raise _error(f"{what} {fmt.name}: only half (16-bit) and single (32-bit) float are supported")


def _output_format(core: vs.Core, value: Any, in_fmt: vs.VideoFormat) -> vs.VideoFormat:
    if value is None:
        return in_fmt
    try:
        fmt = core.get_video_format(value)
    except (vs.Error, TypeError, ValueError):
        fmt = None
    if fmt is None or fmt.id == 0:
        raise _error(f"format must be a constant video format (e.g. vs.YUV420P10), got {value!r}")
    _check_format(fmt, "format")
    return fmt


def _cuts(clip: vs.VideoNode, props: dict[str, Any], given: Any, scene_props: Any,
          scene_detect: Any) -> list[int] | None:
    """The cut list: given, from the scene-change props, or None: to be detected on the RGB frames."""
    frames = clip.num_frames
    if given is not None:
        try:
            values = [int(c) for c in given]
            if any(isinstance(c, bool) or int(c) != c for c in given):
                raise ValueError
        except (TypeError, ValueError):
            raise _error(f"cuts must be a list of frame numbers, got {given!r}") from None
        bad = [c for c in values if not 0 <= c < frames]
        if bad:
            raise _error(f"cuts {bad} lie outside the clip's frames 0..{frames - 1}")
        return sorted({c for c in values if c > 0})
    for name, value in (("scene_props", scene_props), ("scene_detect", scene_detect)):
        if not isinstance(value, bool):
            raise _error(f"{name} must be True or False, got {value!r}")
    if not scene_props or not any(name in props for name in SCENE_PROPS):
        return None if scene_detect else []
    cuts: set[int] = set()
    for n, frame in enumerate(clip.frames(close=True)):
        if frame.props.get("_SceneChangePrev") and n > 0:
            cuts.add(n)
        if frame.props.get("_SceneChangeNext") and n + 1 < frames:
            cuts.add(n + 1)
    return sorted(cuts)


# -- the graph ---------------------------------------------------------------------------------------
class _Graph:
    """The callbacks of one upscale() call and what they share (the engine link, the segment layout)."""

    def __init__(self, core: vs.Core, link: EngineLink, template: vs.VideoNode, rgb: vs.VideoNode,
                 bounds: list[int], chunk: int, tags: ColourTags, chromaloc: int) -> None:
        self.core = core
        self.link = link
        self.template = template
        self.rgb = rgb
        self.bounds = bounds  # block (segment) starts, then the clip's length
        self.chunk = chunk  # frames per render request within a block
        self.tags = tags
        self.chromaloc = chromaloc  # _ChromaLocation, kept from the input for a YUV output
        self.out: vs.VideoNode | None = None  # out_rgb: the callbacks refer to it (set after building)
        self._closing = threading.Lock()

    @classmethod
    def build(cls, core: vs.Core, clip: vs.VideoNode, in_fmt: vs.VideoFormat, out_fmt: vs.VideoFormat,
              props: dict[str, Any], settings: dict[str, Any], cuts: list[int] | None) -> vs.VideoNode:
        in_rgb, in_float = in_fmt.color_family == vs.RGB, in_fmt.sample_type == vs.FLOAT
        tags = colour.clip_tags(props, clip.width, clip.height, in_rgb, in_float)
        chromaloc = colour.chroma_location(props)
        half = in_float and in_fmt.bits_per_sample == 16
        rgb_fmt, dtype = (vs.RGBH, "f16") if half else (vs.RGBS, "f32")
        kw: dict[str, Any] = {"format": rgb_fmt, "transfer_in": tags.transfer, "primaries_in": tags.primaries,
                              "range_in": tags.range}
        if not in_rgb:
            kw.update(matrix_in=tags.matrix, chromaloc_in=chromaloc)
        rgb = core.resize.Bicubic(clip, **kw)
        if cuts is None:
            cuts = _detected_cuts(rgb)
        fps = (clip.fps_num, clip.fps_den) if clip.fps_num > 0 and clip.fps_den > 0 else NOMINAL_FPS
        open_args = {
            "clip": f"vsdcvsr:{clip.width}x{clip.height}:{clip.num_frames}:{in_fmt.name}",
            "width": clip.width, "height": clip.height, "frames": clip.num_frames, "fps": fps,
            "dtype": dtype, "channels": 3, "layout": "planar", "colour": tags.as_rgb(),
            "settings": settings, "cuts": cuts, "transport": "shm"}
        link = EngineLink(open_args)
        try:
            out_w, out_h = link.open()
        except LinkError as e:
            raise _error(f"cannot open a session in the dcvsr engine: {e}") from None
        try:
            sub_w, sub_h = 1 << out_fmt.subsampling_w, 1 << out_fmt.subsampling_h
            if out_w % sub_w or out_h % sub_h:
                raise _error(f"the output size {out_w}x{out_h} does not fit {out_fmt.name}'s chroma "
                             f"subsampling: choose a scale that gives multiples of {sub_w}x{sub_h}, or a "
                             "4:4:4 or RGB output format")
            bounds, seg = _segment_bounds(link, clip.num_frames, cuts, settings.get("segment_frames"))
        except BaseException:
            link.close()
            raise
        frame_bytes = 3 * out_w * out_h * (2 if half else 4)
        chunk = max(1, min(seg, link.store_limit // (2 * frame_bytes)))
        template = core.std.BlankClip(rgb, width=out_w, height=out_h, format=rgb_fmt, keep=True)
        graph = cls(core, link, template, rgb, bounds, chunk, tags, chromaloc)
        attempt = core.std.FrameEval(template, functools.partial(graph.attempt, strict=False))
        graph.out = core.std.FrameEval(template, graph.final, prop_src=[attempt, clip])
        vs.register_on_destroy(graph.close)
        return graph.convert_back(out_fmt, in_rgb, in_float)

    def convert_back(self, out_fmt: vs.VideoFormat, in_rgb: bool, in_float: bool) -> vs.VideoNode:
        assert self.out is not None
        tags, core = self.tags, self.core
        out_rgb, out_float = out_fmt.color_family == vs.RGB, out_fmt.sample_type == vs.FLOAT
        out_range = colour.output_range(tags, in_rgb, in_float, out_rgb, out_float)
        matrix = colour.RGB_MATRIX if out_rgb else tags.matrix
        if not out_rgb and matrix == colour.RGB_MATRIX:  # RGB in, YUV out: the usual matrix for its size
            matrix = colour.default_tags(self.template.width, self.template.height)[0]
        props: dict[str, int] = {"_Matrix": matrix, "_Transfer": tags.transfer, "_Primaries": tags.primaries,
                                 "_Range": out_range}
        result = self.out
        if out_fmt.id != self.template.format.id:
            kw: dict[str, Any] = {"format": out_fmt.id, "matrix_in": colour.RGB_MATRIX,
                                  "transfer_in": tags.transfer, "primaries_in": tags.primaries,
                                  "range_in": colour.FULL, "range": out_range}
            if not out_rgb:
                kw.update(matrix=matrix, chromaloc=self.chromaloc)
            if not out_float:
                kw["dither_type"] = "error_diffusion"
            result = core.resize.Bicubic(result, **kw)
        if not out_rgb:
            props["_ChromaLocation"] = self.chromaloc
        return core.std.SetFrameProps(result, **props)

    def close(self) -> None:
        with self._closing:
            self.out = None  # the callbacks refer to it: drop the cycle
            self.link.close()

    # -- layout -----------------------------------------------------------------------------------------
    def span(self, n: int) -> tuple[int, int, int]:
        """(block start, chunk start, chunk stop) of output frame n."""
        i = bisect.bisect_right(self.bounds, n) - 1
        a, b = self.bounds[i], self.bounds[i + 1]
        lo = a + (n - a) // self.chunk * self.chunk
        return a, lo, min(b, lo + self.chunk)

    # -- callbacks (VapourSynth threads) ----------------------------------------------------------------
    def attempt(self, n: int, strict: bool) -> vs.VideoNode:
        kept = self.link.take(n)
        if kept is not None:
            return self._writer(kept)
        block, lo, hi = self.span(n)
        needed = self._plan(lo, hi)
        out = self.out
        if needed and needed.start < block and block > 0 and out is not None:
            # The chain behind this segment first: out_rgb's last frame of the previous segment.
            return self.core.std.FrameEval(self.template, functools.partial(self._after, strict=strict),
                                           prop_src=[out[block - 1]])
        return self._fetch(lo, hi, needed, strict)

    def _after(self, n: int, f: vs.VideoFrame, strict: bool) -> vs.VideoNode:
        kept = self.link.take(n)
        if kept is not None:
            return self._writer(kept)
        _block, lo, hi = self.span(n)
        return self._fetch(lo, hi, self._plan(lo, hi), strict)

    def _plan(self, lo: int, hi: int) -> range:
        try:
            return self.link.plan(lo, hi)
        except LinkError as e:
            raise _error(str(e)) from None

    def _fetch(self, lo: int, hi: int, needed: range, strict: bool) -> vs.VideoNode:
        clips = [self.template, *(self.rgb[k] for k in needed)]
        return self.core.std.ModifyFrame(self.template, clips, functools.partial(
            self._render, lo=lo, hi=hi, needed=needed, strict=strict))

    def _render(self, n: int, f: vs.VideoFrame | list[vs.VideoFrame], lo: int, hi: int, needed: range,
                strict: bool) -> vs.VideoFrame:
        f = f if isinstance(f, list) else [f]  # ModifyFrame passes one frame when given one clip
        frames = dict(zip(needed, itertools.islice(f, 1, None), strict=True))

        def read_into(k: int, view: np.ndarray) -> None:
            frame = frames[k]
            for p in range(3):
                np.copyto(view[p], np.asarray(frame[p]))

        try:
            array = self.link.render(lo, hi, n, frames, read_into)
        except Missing as e:
            if strict:
                raise _error(f"frame {n}: the engine needs source frames {e.needed.start}.."
                             f"{e.needed.stop - 1} it did not plan for, twice (is its frame cache too "
                             "small, DCVSR_CACHE_BYTES, or is it restarting?)") from None
            marked = f[0].copy()
            marked.props[RETRY_PROP] = 1
            return marked
        except LinkError as e:
            raise _error(f"frame {n}: {e}") from None
        return _write(f[0], array)

    def _writer(self, array: np.ndarray) -> vs.VideoNode:
        return self.core.std.ModifyFrame(self.template, self.template, lambda n, f: _write(f, array))

    def final(self, n: int, f: list[vs.VideoFrame]) -> vs.VideoNode:
        got, source = f
        if RETRY_PROP in got.props:
            return self.core.std.FrameEval(self.template, functools.partial(self.attempt, strict=True))
        out = got.copy()
        props = out.props
        for key, value in source.props.items():
            if key not in COLOUR_PROPS and key not in DROPPED_PROPS:
                props[key] = value
        props["_Matrix"] = colour.RGB_MATRIX
        props["_Transfer"] = self.tags.transfer
        props["_Primaries"] = self.tags.primaries
        props["_Range"] = colour.FULL
        return self.core.std.ModifyFrame(self.template, self.template, lambda n, f: out)


def _write(template: vs.VideoFrame, array: np.ndarray) -> vs.VideoFrame:
    out = template.copy()
    for p in range(3):
        np.copyto(np.asarray(out[p]), array[p])
    return out


def _detected_cuts(rgb: vs.VideoNode) -> list[int]:
    """dcvsr_protocol.scenes' detector on the RGB frames the engine will get (one pass, one frame held)."""
    frames = (np.stack([np.asarray(f[p]) for p in range(3)], axis=-1) for f in rgb.frames(close=True))
    return detect_cuts(frames)


def _segment_bounds(link: EngineLink, frames: int, cuts: Iterable[int],
                    given: int | None) -> tuple[list[int], int]:
    """The engine's canonical segments, found with PLAN on the fresh session (where a render of a scene's
    first frame reads exactly that scene's first segment). Only an optimisation: any layout gives the
    same pixels (the determinism contract), a wrong one only costs speed."""
    edges = [0, *cuts, frames]
    shots = list(itertools.pairwise(edges))
    start, stop = max(shots, key=lambda s: s[1] - s[0])
    seg = given
    try:
        first = link.plan(start, start + 1)
    except LinkError as e:
        raise _error(f"cannot plan with the dcvsr engine: {e}") from None
    if first.start == start and start < first.stop <= stop:
        seg = first.stop - start if first.stop < stop else stop - start
    seg = max(1, seg or 1)
    bounds: list[int] = []
    for a, b in shots:
        bounds.extend(range(a, b, seg))
    bounds.append(frames)
    return bounds, seg
