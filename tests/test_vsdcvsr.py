"""vsdcvsr.upscale against a real VapourSynth core and a real engine process running the tiny model.

Every VapourSynth script runs in a subprocess under a timeout, so that a deadlock or a crash in native
code fails its test instead of hanging pytest. The engine is this module's (one process, its own
runtime folder and frame cache); the scripts reach it through DCVSR_RUNTIME_DIR with DCVSR_AUTOSTART=0.
Frames are 16x16, 4 or 8 to a clip, segments of 4 frames, 2 steps, one torch thread in the engine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TORCH_THREADS
from tests.engine_process import EngineProcess, child_env, short_runtime_dir

pytestmark = pytest.mark.timeout(240)

DCVSR = "dcvsr_engine.server.dcvsr_renderer:DCVSRRenderer"
PLUGIN = Path(__file__).resolve().parents[1] / "plugin"
SETTINGS = {"scale": 2, "steps": 2, "tile_size": 16, "tile_frames": 4, "segment_frames": 4, "decode_chunk": 4,
            "guidance": 0.0, "device": "cpu", "dtype": "fp32"}

PRELUDE = r'''
import json, random, sys, threading
import numpy as np
import vapoursynth as vs
import vsdcvsr
from dcvsr_client import Client

core = vs.core
SET = json.loads(sys.argv[1])
COLOUR = ["_Matrix", "_Transfer", "_Primaries", "_Range", "_ChromaLocation"]


def noise(fmt, n=4, seed=0, w=16, h=16, tags=None, fps=(24, 1)):
    """A clip of random pixels in format fmt; colour props only as given in tags (else none)."""
    base = core.std.BlankClip(width=w, height=h, format=vs.RGBS, length=n, fpsnum=fps[0], fpsden=fps[1])

    def fill(n, f):
        out = f.copy()
        rng = np.random.default_rng(seed * 1000 + n)
        for p in range(3):
            np.asarray(out[p])[:] = rng.random((h, w), dtype=np.float32)
        out.props["Index"] = n
        return out

    clip = core.std.ModifyFrame(base, base, fill)
    tags = tags or {}
    fmt = core.get_video_format(fmt)
    kw = {"format": fmt.id}
    if fmt.color_family == vs.YUV:
        kw.update(matrix=tags.get("_Matrix", 6), range=tags.get("_Range", 0))
    clip = core.resize.Bicubic(clip, **kw)
    clip = core.std.RemoveFrameProps(clip, COLOUR)
    return core.std.SetFrameProps(clip, _SARNum=4, _SARDen=3, Answer=42, **tags)


def planes(frame):
    """All planes of a frame (of any subsampling) as one float32 array."""
    if frame.format.subsampling_w or frame.format.subsampling_h:
        return np.concatenate([np.asarray(frame[p]).ravel() for p in range(3)]).astype(np.float32)
    return np.stack([np.asarray(frame[p]) for p in range(3)]).astype(np.float32)


def engine_rgb(rgb, settings, cuts=()):
    """What the engine returns for these RGB frames through the client directly."""
    half = rgb.format.bits_per_sample == 16
    frames = [np.stack([np.asarray(rgb.get_frame(i)[p]) for p in range(3)]) for i in range(rgb.num_frames)]
    with Client.connect(autostart=False) as client, client.open(
            "direct", rgb.width, rgb.height, rgb.num_frames, dtype="f16" if half else "f32",
            layout="planar", settings=settings, cuts=list(cuts)) as session:
        out = session.render(0, rgb.num_frames, source=lambda i: frames[i])
        return {i: a.astype(np.float32) for i, a in out}


def rendered():
    """Segments the engine has rendered so far."""
    with Client.connect(autostart=False) as client:
        return client.status()["stats"]["segments_rendered"]


def props_of(frame):
    return {k: v for k, v in frame.props.items() if isinstance(v, (int, float))}
'''


@pytest.fixture(scope="module")
def engine(tiny_model_dir, tmp_path_factory):
    env = {"DCVSR_MODEL": str(tiny_model_dir), "DCVSR_CACHE_DIR": str(tmp_path_factory.mktemp("vs-cache")),
           "DCVSR_THREADS": str(TORCH_THREADS), "OMP_NUM_THREADS": str(TORCH_THREADS)}
    with EngineProcess(renderer=DCVSR, env=env) as e:
        yield e


def script_env(directory: Path | str, **extra: str) -> dict[str, str]:
    env = child_env(directory, DCVSR_AUTOSTART="0", OMP_NUM_THREADS="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN), env["PYTHONPATH"]])
    return env


def run_script(body: str, directory: Path | str, *args: object, timeout: float = 150,
               env: dict[str, str] | None = None) -> dict | list:
    """Run PRELUDE + body in a fresh interpreter (argv: the settings, then args); body prints one JSON
    line last."""
    argv = [sys.executable, "-c", PRELUDE + body, json.dumps(SETTINGS), *map(str, args)]
    try:
        proc = subprocess.run(argv, env=env or script_env(directory), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the script did not finish within {timeout} s (a deadlock?)\n{e.stdout}\n{e.stderr}")
    assert proc.returncode == 0, f"script failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-6000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- import -------------------------------------------------------------------------------------------
def test_importing_vsdcvsr_imports_no_torch_and_no_engine(tmp_path):
    code = ("import sys, vsdcvsr\nu = vsdcvsr.upscale\nimport inspect\n"
            "heavy = ('torch', 'diffusers', 'transformers', 'dcvsr_engine')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
            "print(list(inspect.signature(u).parameters))")
    proc = subprocess.run([sys.executable, "-c", code], env=script_env(tmp_path), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    heavy, params = proc.stdout.strip().splitlines()[-2:]
    assert heavy == "[]"
    from dcvsr_protocol.settings import Settings

    names = eval(params)
    assert names[:2] == ["clip", "scale"]
    assert set(Settings.__dataclass_fields__) | {"clip", "model", "device", "dtype", "quality", "format",
                                                 "cuts", "scene_props", "scene_detect"} == set(names)


# -- formats ------------------------------------------------------------------------------------------
FORMATS = r'''
results = {}
for name, tags in json.loads(sys.argv[2]):
    fmt = getattr(vs, name)
    src = noise(fmt, n=4, seed=len(results), tags=tags)
    up = vsdcvsr.upscale(src, **SET)
    as_rgb = vsdcvsr.upscale(src, **SET, format=vs.RGBS)
    f = up.get_frame(1)
    # The engine's input, converted independently with the tags the plugin must have assumed.
    m, r = tags.get("_Matrix", 6), tags.get("_Range", 0 if src.format.color_family == vs.YUV else 1)
    t, p = tags.get("_Transfer", 6), tags.get("_Primaries", 6)
    half = src.format.sample_type == vs.FLOAT and src.format.bits_per_sample == 16
    kw = dict(format=vs.RGBH if half else vs.RGBS, range_in=r, transfer_in=t, primaries_in=p)
    if src.format.color_family == vs.YUV:
        kw.update(matrix_in=m, chromaloc_in=0)
    expected = engine_rgb(core.resize.Bicubic(src, **kw), SET)
    same = all(np.array_equal(planes(as_rgb.get_frame(i)), expected[i]) for i in range(4))
    results[name] = {"format": up.format.name, "size": [up.width, up.height], "frames": up.num_frames,
                     "fps": [up.fps.numerator, up.fps.denominator], "props": props_of(f),
                     "rgb_format": as_rgb.format.name, "rgb_props": props_of(as_rgb.get_frame(0)),
                     "same_as_engine": bool(same)}
# A variable-frame-rate clip: processed as a sequence of frames, durations kept.
vfr = noise(vs.YUV420P8, n=4, seed=77, fps=(0, 1))
vfr = core.std.SetFrameProps(vfr, _DurationNum=1001, _DurationDen=30000)
up = vsdcvsr.upscale(vfr, **SET)
results["vfr"] = {"fps": [up.fps.numerator, up.fps.denominator], "frames": up.num_frames,
                  "props": props_of(up.get_frame(3))}
print(json.dumps(results))
'''

CASES = [
    ("YUV420P8", {}), ("YUV422P10", {"_Matrix": 1, "_Range": 1, "_Transfer": 1, "_Primaries": 1}),
    ("YUV444P16", {}), ("YUV420PS", {}), ("YUV444PH", {}),
    ("RGB24", {}), ("RGB48", {"_Transfer": 13, "_Primaries": 1}), ("RGBH", {}), ("RGBS", {}),
]


def test_every_format_gives_the_size_length_format_props_and_the_engine_s_pixels(engine):
    results = run_script(FORMATS, engine.directory, json.dumps(CASES), timeout=200)
    for name, tags in CASES:
        got = results[name]
        yuv = name.startswith("YUV")
        assert got["format"] == name and got["size"] == [32, 32] and got["frames"] == 4, (name, got)
        assert got["fps"] == [24, 1], name
        props = got["props"]
        assert props["Index"] == 1 and props["Answer"] == 42, (name, props)
        assert (props["_SARNum"], props["_SARDen"]) == (4, 3), name
        assert (props["_DurationNum"], props["_DurationDen"]) == (1, 24), name
        integer_yuv = yuv and not name.endswith(("PS", "PH"))
        want = {"_Matrix": tags.get("_Matrix", 6 if yuv else 0),
                "_Range": tags.get("_Range", 0 if integer_yuv else 1),
                "_Transfer": tags.get("_Transfer", 6), "_Primaries": tags.get("_Primaries", 6)}
        assert {k: props[k] for k in want} == want, (name, props)
        assert ("_ChromaLocation" in props) == yuv, name
        assert got["rgb_format"] == "RGBS"
        assert got["rgb_props"]["_Matrix"] == 0 and got["rgb_props"]["_Range"] == 1, name
        assert got["same_as_engine"], name
    vfr = results["vfr"]
    assert vfr["fps"] == [0, 1] and vfr["frames"] == 4, vfr
    assert (vfr["props"]["_DurationNum"], vfr["props"]["_DurationDen"]) == (1001, 30000), vfr


# -- order and threads --------------------------------------------------------------------------------
ORDER = r'''
from concurrent.futures import ThreadPoolExecutor
core.num_threads = int(sys.argv[2])
seed = int(sys.argv[3])
src = noise(vs.YUV420P8, n=8, seed=seed)
# Random order, from several Python threads and through get_frame_async, on a fresh engine session
# first (so these requests are the ones that render), then in order on a second instance.
shuffled = vsdcvsr.upscale(src, **SET)
before = rendered()
order = list(range(8))
random.Random(seed).shuffle(order)
futures = {i: shuffled.get_frame_async(i) for i in order[:4]}
with ThreadPoolExecutor(3) as pool:
    rest = dict(zip(order[4:], pool.map(lambda i: planes(shuffled.get_frame(i)), order[4:])))
got = {i: planes(fut.result()) for i, fut in futures.items()} | rest
segments = rendered() - before
ordered = vsdcvsr.upscale(src, **SET)
want = {i: planes(ordered.get_frame(i)) for i in range(8)}
print(json.dumps({"order": order, "same": [bool(np.array_equal(got[i], want[i])) for i in range(8)],
                  "segments": segments, "again": rendered() - before - segments}))
'''


@pytest.mark.parametrize("threads", [4, 1])
def test_frames_fetched_in_random_order_by_several_threads_equal_frames_fetched_in_order(engine, threads):
    out = run_script(ORDER, engine.directory, threads, 100 + threads)
    assert out["same"] == [True] * 8, out
    assert out["segments"] == 2 and out["again"] == 0, out  # each segment rendered once


RETRY = r'''
import vsdcvsr.link as link
core.num_threads = 1
src = noise(vs.YUV420P8, n=8, seed=101)
fooled = []
real_plan = link.EngineLink.plan


def plan(self, start, stop):
    # Claim that nothing is needed, once per chunk: the render finds out otherwise and must retry.
    if (id(self), start, stop) not in fooled:
        fooled.append((id(self), start, stop))
        return range(0)
    return real_plan(self, start, stop)


link.EngineLink.plan = plan
tricked = vsdcvsr.upscale(src, **SET)
got = {i: planes(tricked.get_frame(i)) for i in (6, 1, 7, 0, 2, 3, 4, 5)}
link.EngineLink.plan = real_plan
want = vsdcvsr.upscale(src, **SET)
print(json.dumps({"fooled": len(fooled), "same": [bool(np.array_equal(got[i], planes(want.get_frame(i))))
                                                  for i in range(8)]}))
'''


def test_a_render_that_needs_more_than_was_planned_is_retried_not_failed(engine):
    out = run_script(RETRY, engine.directory)
    assert out["fooled"] >= 2 and out["same"] == [True] * 8, out


RESTART = r'''
import os, signal, time
src = noise(vs.YUV420P8, n=8, seed=303)
up = vsdcvsr.upscale(src, **SET)  # starts an engine (autostart is on here)
got = {i: planes(up.get_frame(i)) for i in range(4)}
with Client.connect(autostart=False) as client:
    first = client.status()["pid"]
os.kill(first, signal.SIGKILL)  # as a crash would
got |= {i: planes(up.get_frame(i)) for i in (6, 4, 7, 5)}  # reconnects, which starts a new engine
with Client.connect(autostart=False) as client:
    second = client.status()["pid"]
again = vsdcvsr.upscale(src, **SET)
print(json.dumps({"pids": [first, second],
                  "same": [bool(np.array_equal(got[i], planes(again.get_frame(i)))) for i in range(8)]}))
'''


def test_an_engine_that_dies_is_replaced_and_the_frames_stay_the_same(tiny_model_dir, tmp_path):
    directory = short_runtime_dir()
    env = script_env(directory, DCVSR_RENDERER=DCVSR, DCVSR_MODEL=str(tiny_model_dir),
                     DCVSR_CACHE_DIR=str(tmp_path / "cache"), DCVSR_THREADS=str(TORCH_THREADS))
    env["DCVSR_AUTOSTART"] = "1"
    try:
        out = run_script(RESTART, directory, env=env, timeout=200)
    finally:
        stop_engine(directory)
    assert out["pids"][0] != out["pids"][1] and out["same"] == [True] * 8, out


def stop_engine(directory: Path) -> None:
    """Stop an engine a script started in this runtime folder, and remove the folder."""
    try:
        pid = int((directory / "engine.pid").read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
    except (OSError, ValueError):
        pass
    shutil.rmtree(directory, ignore_errors=True)


# -- a script rendered to y4m -----------------------------------------------------------------------
VPY = """\
import json
import vapoursynth as vs
import vsdcvsr

core = vs.core
src = core.std.BlankClip(width=16, height=16, format=vs.YUV420P8, length=8, color=[80, 100, 150])
src = core.std.Splice([src[:4], core.std.Invert(src[4:])])  # two different halves
clip = vsdcvsr.upscale(src, **json.loads(SETTINGS))
clip.set_output()
"""

Y4M = r'''
import runpy
# What vspipe does, in process: evaluate the script, then write its output 0 as y4m.
runpy.run_path(sys.argv[2], init_globals={"SETTINGS": sys.argv[1]}, run_name="__vapoursynth__")
with open(sys.argv[3], "wb") as fh:
    vs.get_output(0).clip.output(fh, y4m=True, prefetch=4)
print(json.dumps({}))
'''


def test_a_vpy_script_renders_to_y4m_with_prefetch(engine, tmp_path):
    vpy, path = tmp_path / "upscale.vpy", tmp_path / "out.y4m"
    vpy.write_text(VPY)
    run_script(Y4M, engine.directory, vpy, path)
    data = path.read_bytes()
    header, _, _ = data.partition(b"\n")
    tokens = header.split()
    assert tokens[0] == b"YUV4MPEG2" and b"W32" in tokens and b"H32" in tokens and b"F24:1" in tokens, header
    assert data.count(b"FRAME\n") == 8
    assert len(data) == len(header) + 1 + 8 * (len(b"FRAME\n") + 32 * 32 * 3 // 2)


# -- scene cuts ----------------------------------------------------------------------------------------
CUTS = r'''
src = noise(vs.YUV420P8, n=8, seed=202)
marked = core.std.SetFrameProps(src, _SceneChangePrev=0, _SceneChangeNext=0)
marked = core.std.Splice([marked[:4], core.std.SetFrameProps(marked[4], _SceneChangePrev=1), marked[5:]])
kw = dict(format=vs.RGBS, matrix_in=6, range_in=0, transfer_in=6, primaries_in=6, chromaloc_in=0)
rgb = core.resize.Bicubic(src, **kw)
with_cut, without = engine_rgb(rgb, SET, cuts=[4]), engine_rgb(rgb, SET)

def same(clip, expected):
    return [bool(np.array_equal(planes(clip.get_frame(i)), expected[i])) for i in range(8)]

print(json.dumps({
    "props": same(vsdcvsr.upscale(marked, **SET, format=vs.RGBS), with_cut),
    "explicit": same(vsdcvsr.upscale(src, **SET, format=vs.RGBS, cuts=[4]), with_cut),
    "skipped": same(vsdcvsr.upscale(marked, **SET, format=vs.RGBS, scene_props=False), without),
    "differ": not all(np.array_equal(with_cut[i], without[i]) for i in range(8)),
}))
'''


def test_scene_change_props_become_the_session_s_cuts(engine):
    out = run_script(CUTS, engine.directory)
    assert out["props"] == [True] * 8 and out["explicit"] == [True] * 8 and out["skipped"] == [True] * 8, out
    assert out["differ"]


DETECTED = r'''
frames = np.load(sys.argv[2])
n, h, w, _ = frames.shape
base = core.std.BlankClip(width=w, height=h, format=vs.RGBS, length=n, fpsnum=25, fpsden=1)

def fill(n, f):
    out = f.copy()
    for p in range(3):
        np.asarray(out[p])[:] = frames[n, :, :, p]
    return out

clip = core.std.SetFrameProps(core.std.ModifyFrame(base, base, fill), _Transfer=1, _Primaries=1)
expected = json.loads(sys.argv[3])

def same(node, ref):
    return [bool(np.array_equal(planes(node.get_frame(i)), ref[i])) for i in range(n)]

print(json.dumps({
    "detected": same(vsdcvsr.upscale(clip, **SET, format=vs.RGBS), engine_rgb(clip, SET, cuts=expected)),
    "off": same(vsdcvsr.upscale(clip, **SET, format=vs.RGBS, scene_detect=False), engine_rgb(clip, SET)),
    "differ": not all(np.array_equal(a, b) for a, b in zip(engine_rgb(clip, SET, cuts=expected).values(),
                                                            engine_rgb(clip, SET).values())),
}))
'''


def test_without_cuts_the_plugin_detects_those_the_command_line_detects(engine, tmp_path):
    import numpy as np
    from dcvsr_protocol.scenes import detect_cuts

    from tests.footage import CITY_CUT, city

    frames = np.stack(city(CITY_CUT - 8, CITY_CUT + 8, 20))  # real footage: the city clip's own cut
    assert detect_cuts(frames) == [8]  # what `dcvsr upscale` finds on these frames
    np.save(tmp_path / "frames.npy", frames)
    out = run_script(DETECTED, engine.directory, tmp_path / "frames.npy", json.dumps([8]))
    assert out["detected"] == [True] * 16 and out["off"] == [True] * 16 and out["differ"], out


# -- bad input -------------------------------------------------------------------------------------------
BAD = r'''
import time
cases = {
    "varsize": lambda: vsdcvsr.upscale(core.std.BlankClip(varsize=True), **SET),
    "varformat": lambda: vsdcvsr.upscale(core.std.BlankClip(varformat=True), **SET),
    "gray": lambda: vsdcvsr.upscale(core.std.BlankClip(format=vs.GRAY8, width=16, height=16), **SET),
    "scale too big": lambda: vsdcvsr.upscale(noise(vs.YUV420P8), **{**SET, "scale": 9}),
    "scale odd for 4:2:0": lambda: vsdcvsr.upscale(noise(vs.YUV420P8, w=18, h=18), **{**SET, "scale": 1.5}),
    "unknown argument": lambda: vsdcvsr.upscale(noise(vs.RGBS), **SET, colour_boost=2),
    "bad choice": lambda: vsdcvsr.upscale(noise(vs.RGBS), **SET, sap_gather="sometimes"),
    "bad quality": lambda: vsdcvsr.upscale(noise(vs.RGBS), **SET, quality="draft"),
    "bad cuts": lambda: vsdcvsr.upscale(noise(vs.RGBS), **SET, cuts=[2, 99]),
    "bad format": lambda: vsdcvsr.upscale(noise(vs.RGBS), **SET, format=vs.GRAY16),
    "interlaced": lambda: vsdcvsr.upscale(core.std.SetFrameProps(noise(vs.YUV420P8), _FieldBased=2), **SET),
    "no such model": lambda: vsdcvsr.upscale(noise(vs.RGBS), **{**SET, "model": "/no/such/model"}),
    "too small": lambda: vsdcvsr.upscale(noise(vs.RGBS, w=4, h=4), **SET),
}
out = {}
for name, make in cases.items():
    t = time.monotonic()
    try:
        make()
        out[name] = ["no error", 0]
    except vs.Error as e:
        out[name] = [str(e), time.monotonic() - t]
print(json.dumps(out))
'''

EXPECTED = {
    "varsize": "size varies", "varformat": "format varies", "gray": "not YUV or RGB",
    "scale too big": "scale must be at most 8", "scale odd for 4:2:0": "27x27 does not fit YUV420P8",
    "unknown argument": "unexpected keyword argument 'colour_boost'",
    "bad choice": "sap_gather must be one of",
    "bad quality": "quality must be one of full, standard, preview",
    "bad cuts": "cuts [99] lie outside", "bad format": "Gray16 is not YUV or RGB",
    "interlaced": "interlaced", "no such model": "no model folder", "too small": "below the minimum",
}


def test_bad_input_gives_a_vs_error_that_says_what_to_do(engine):
    out = run_script(BAD, engine.directory)
    for name, needle in EXPECTED.items():
        message, seconds = out[name]
        assert message.startswith("vsdcvsr.upscale: ") and needle in message, (name, message)
        assert seconds < 30, (name, seconds)


NO_ENGINE = r'''
import time
t = time.monotonic()
try:
    vsdcvsr.upscale(noise(vs.YUV420P8), **SET)
    print(json.dumps(["no error", 0]))
except vs.Error as e:
    print(json.dumps([str(e), time.monotonic() - t]))
'''


def test_no_engine_with_autostart_off_is_a_clear_error_not_a_hang():
    empty = short_runtime_dir()
    try:
        message, seconds = run_script(NO_ENGINE, empty, timeout=60)
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    assert message.startswith("vsdcvsr.upscale: ") and "no dcvsr engine is running" in message, message
    assert "DCVSR_AUTOSTART=0" in message and seconds < 10


# -- the installation check ---------------------------------------------------------------------------
def test_python_m_vsdcvsr_reports_the_engine_the_model_and_the_device(engine, tmp_path):
    args = [sys.executable, "-m", "vsdcvsr", "--device", "cpu", "--dtype", "fp32"]
    proc = subprocess.run(args, env=script_env(engine.directory), capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "engine: ok" in proc.stdout and "model: ok" in proc.stdout and "device: ok (cpu" in proc.stdout
    empty = short_runtime_dir()
    try:
        proc = subprocess.run(args, env=script_env(empty), capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "engine: MISSING" in proc.stdout and "dcvsr serve" in proc.stdout


# -- the signature --------------------------------------------------------------------------------------
def test_upscale_declares_every_setting_as_settings_describes_it():
    """upscale()'s written signature and docstring agree with Settings: names, order, types, defaults."""
    import inspect
    from dataclasses import fields

    from dcvsr_protocol.settings import Settings
    from vsdcvsr import filter as vsfilter
    from vsdcvsr import options

    P = inspect.Parameter
    expected = [("clip", P.POSITIONAL_OR_KEYWORD, "vs.VideoNode", P.empty)]
    for f in fields(Settings):
        kind = P.POSITIONAL_OR_KEYWORD if f.name == "scale" else P.KEYWORD_ONLY
        expected.append((f.name, kind, options.annotation_of(f), options.default_of(f)))
    params = list(inspect.signature(vsfilter.upscale).parameters.values())
    assert [(p.name, p.kind, p.annotation, p.default) for p in params[:len(expected)]] == expected
    assert [p.name for p in params[len(expected):]] == [*options.SESSION_OPTIONS, *options.PLUGIN_OPTIONS]
    doc = inspect.cleandoc(vsfilter.upscale.__doc__)
    summary = doc.split("\n\n")[0].replace("\n", " ")
    assert doc == options.docstring(summary), "paste options.docstring(summary) into upscale()'s docstring"
