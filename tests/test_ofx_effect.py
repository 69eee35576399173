"""The OpenFX effect in the test host (tests/ofx_host): every action, pixels against the Python
client's for the same frames (tiny model), image accounting, hosts without temporal access or
multi-resolution, NaN-filled outputs, proxy renders, the exported symbols, and the parameters
against the settings description."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from dcvsr_protocol import settings as settings_module
from dcvsr_protocol.colour import ColourTags

from tests.conftest import TORCH_THREADS
from tests.engine_process import EngineProcess
from tests.ofx_build import BRIDGE, BUNDLE, LINUX_PLUGIN, ROOT, TEST_BIN, make
from tests.test_ofx_client import source_frame

pytestmark = pytest.mark.timeout(300)

DCVSR = "dcvsr_engine.server.dcvsr_renderer:DCVSRRenderer"
W, H, FRAMES = 24, 16, 12
STEPS = 2
# What the effect sends with its default parameters (scale 2x chosen below, steps 2).
BASE_SETTINGS = {"scale": 2.0, "quality": "full", "footage": "auto", "steps": STEPS, "seed": 0}
NO_TEMPORAL = {"tile_frames": 1, "segment_frames": 1, "decode_chunk": 1, "frame_overlap": 0.0}
EFFECT_COLOUR = ColourTags(matrix=0, transfer=1, primaries=1, range=1)


@pytest.fixture(scope="module", autouse=True)
def built():
    make("linux", "tests")


@pytest.fixture(scope="module")
def engine(tiny_model_dir, tmp_path_factory):
    env = {"DCVSR_MODEL": str(tiny_model_dir), "DCVSR_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
           "DCVSR_THREADS": str(TORCH_THREADS), "OMP_NUM_THREADS": str(TORCH_THREADS)}
    with EngineProcess(renderer=DCVSR, env=env).start(timeout=120) as e:
        yield e


class HostRun:
    def __init__(self, result: subprocess.CompletedProcess, out: Path, frames: list[int]) -> None:
        self.stdout = result.stdout
        self.returncode = result.returncode
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        size = re.search(r"^output (\d+) (\d+)$", self.stdout, re.M)
        self.width, self.height = (int(size[1]), int(size[2])) if size else (0, 0)
        raw = np.fromfile(out, dtype="<f4") if out.exists() else np.zeros(0, np.float32)
        self.pixels = raw.reshape(len(frames), self.height, self.width, 4) if frames else raw
        renders = re.finditer(r"^render (\d+) -> (\d+) message=(.*)$", self.stdout, re.M)
        self.renders = {int(m[1]): (int(m[2]), m[3]) for m in renders}
        acc = re.search(r"fetched-source (\d+) fetched-output (\d+) released (\d+) violations (\d+)",
                        self.stdout)
        self.fetched_source, self.fetched_output, self.released, self.violations = map(int, acc.groups())

    def check_clean(self) -> None:
        assert self.violations == 0, self.stdout[-3000:]
        assert self.fetched_source + self.fetched_output == self.released
        assert "leaked 0" in self.stdout


def host(directory, tmp_path, frames: list[int], *options: str, params: dict | None = None,
         env: dict | None = None, timeout: float = 240) -> HostRun:
    out = tmp_path / "host_out.f32"
    out.unlink(missing_ok=True)
    args = [str(TEST_BIN / "ofx_host"), str(BUNDLE), str(out), "--size", str(W), str(H),
            "--frames-in-clip", str(FRAMES), "--render", ",".join(map(str, frames)), *options]
    for name, value in {"scale": 0, "steps": STEPS, **(params or {})}.items():
        args += ["--param", f"{name}={value}"]
    run_env = dict(os.environ, DCVSR_RUNTIME_DIR=str(directory), DCVSR_AUTOSTART="0", **(env or {}))
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=run_env)
    return HostRun(result, out, frames)


def python_frames(engine, frames: list[int], width=W, height=H, settings=None,
                  source=None) -> dict[int, np.ndarray]:
    """The Python client's output for the same source frames and settings."""
    source = source or (lambda i: source_frame(i, width, height))
    with engine.connect(idle_timeout=120) as client:
        session = client.open("python-reference", width, height, FRAMES, dtype="f32", channels=3,
                              colour=EFFECT_COLOUR, settings={**BASE_SETTINGS, **(settings or {})})
        got = {i: a for i, a in session.render(min(frames), max(frames) + 1, source)}
        session.close()
    return {i: got[i] for i in frames}


def assert_same_rgb(run: HostRun, frames: list[int], expected: dict[int, np.ndarray]) -> None:
    for k, f in enumerate(frames):
        assert np.array_equal(run.pixels[k, :, :, :3], expected[f]), f"frame {f}"
        assert np.all(run.pixels[k, :, :, 3] == 1.0)


# ---- no engine needed ----
def test_only_the_entry_points_are_exported():
    out = subprocess.run(["nm", "-D", "--defined-only", str(LINUX_PLUGIN)], capture_output=True, text=True,
                         check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.split()[1] in "TDBRW"}
    assert names == {"OfxGetNumberOfPlugins", "OfxGetPlugin", "OfxSetHost"}
    needed = subprocess.run(["objdump", "-p", str(LINUX_PLUGIN)], capture_output=True, text=True).stdout
    assert "libstdc++" not in needed and "NEEDED" in needed


def _defines(text: str) -> dict[str, str]:
    return dict(re.findall(r'#define\s+(k\w+)\s+"([^"]*)"', text))


def test_bridge_and_host_declarations_agree():
    """Two independent writings of the specification's names: any difference is a bug in one."""
    bridge = _defines((BRIDGE / "openfx" / "ofx_api.h").read_text())
    bridge.update(_defines((BRIDGE / "openfx" / "ofx_api_extra.h").read_text()))
    host_text = (ROOT / "tests/ofx_host/ofx_host_api.h").read_text()
    host_names = dict(re.findall(r'X\((k\w+), "([^"]*)"\)', host_text))
    shared = set(bridge) & set(host_names)
    assert len(shared) >= 60, sorted(shared)
    assert {name: bridge[name] for name in shared} == {name: host_names[name] for name in shared}
    # Names whose value differs from the macro's own spelling: the classic traps.
    assert bridge["kOfxImageEffectPropSupportsMultipleClipDepths"] == "OfxImageEffectPropMultipleClipDepths"
    assert bridge["kOfxImagePreMultiplied"] == "OfxImageAlphaPremultiplied"
    assert bridge["kOfxParamPropPersistant"] == "OfxParamPropPersistant"


def test_parameters_follow_the_settings_description(tmp_path):
    """Describe runs with no engine; the parameters it declares come from settings.py at build time."""
    out = subprocess.run([str(TEST_BIN / "ofx_host"), str(BUNDLE), str(tmp_path / "x"), "--describe-only"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    params = {m[1]: m for m in re.finditer(r"^param (\w+) (\w+) default=(\S*) min=(-?\d+) max=(-?\d+) "
                                           r"mode=\S+ choices=(\S*)$", out.stdout, re.M)}
    spec = {f.name: f for f in fields(settings_module.Settings)}
    footage = spec["footage"]
    assert params["footage"][6].split(",") == list(footage.metadata["choices"])
    assert int(params["footage"][3]) == list(footage.metadata["choices"]).index(footage.default)
    assert params["quality"][6].split(",") == list(settings_module.QUALITIES)
    assert int(params["quality"][3]) == settings_module.QUALITIES.index(settings_module.DEFAULT_QUALITY)
    assert int(params["steps"][5]) == spec["steps"].metadata["maximum"]
    assert int(params["seed"][4]) == spec["seed"].metadata["minimum"]
    scales = [float(c.rstrip("x")) for c in params["scale"][6].split(",")]
    lo, hi = spec["scale"].metadata["minimum"], spec["scale"].metadata["maximum"]
    assert all(lo <= s <= hi for s in scales) and scales[int(params["scale"][3])] == spec["scale"].default
    assert "describe OfxImageEffectPluginRenderThreadSafety = OfxImageEffectRenderFullySafe" in out.stdout
    assert "describe OfxImageEffectPropSupportsTiles = 0" in out.stdout
    assert "describe OfxImageEffectPluginPropHostFrameThreading = 0" in out.stdout


def test_settings_header_is_regenerated_when_settings_change(tmp_path):
    """The header is a build product of settings.py: editing a choice there changes what is compiled."""
    import shutil
    import sys

    package = tmp_path / "dcvsr_protocol"
    shutil.copytree(Path(settings_module.__file__).parent, package)
    text = (package / "settings.py").read_text().replace('choices=("auto", "clean", "degraded")',
                                                         'choices=("auto", "clean", "degraded", "film")')
    (package / "settings.py").write_text(text)
    generator = BRIDGE / "tools/gen_settings_header.py"
    out = subprocess.run([sys.executable, str(generator), str(package / "settings.py")],
                         capture_output=True, text=True, check=True).stdout
    assert '"auto", "clean", "degraded", "film"' in out


# ---- against the engine ----
def test_pixels_match_the_python_client(engine, tmp_path):
    frames = [3, 4, 5]
    run = host(engine.directory, tmp_path, frames)
    run.check_clean()
    assert (run.width, run.height) == (2 * W, 2 * H)
    assert all(status == 0 and message == "-" for status, message in run.renders.values())
    assert run.fetched_output == len(frames)
    assert_same_rgb(run, frames, python_frames(engine, frames))
    for action in ("Load", "Describe", "DescribeInContext", "CreateInstance", "GetClipPreferences",
                   "GetRegionOfDefinition", "GetFramesNeeded", "IsIdentity", "BeginSequenceRender",
                   "EndSequenceRender", "InstanceChanged", "DestroyInstance", "Unload"):
        assert re.search(rf"action Ofx\w*Action{action} -> (0|14)$", run.stdout, re.M), action
    needed = re.search(r"frames-needed (\S+) (\S+)", run.stdout)
    assert 0 <= float(needed[1]) <= 3 <= float(needed[2]) < FRAMES
    assert "rod 0 0 48 32" in run.stdout
    assert re.search(r"^status engine pid \d+", run.stdout, re.M)


def test_out_of_order_on_two_threads_in_the_general_context(engine, tmp_path):
    frames = [9, 2, 6, 0]
    run = host(engine.directory, tmp_path, frames, "--context", "general", "--threads", "2")
    run.check_clean()
    assert_same_rgb(run, frames, python_frames(engine, frames))


@pytest.mark.parametrize("depth,rows", [("byte", "negative"), ("short", "padded"), ("half", "tight")])
def test_integer_and_half_depths_are_converted_exactly(engine, tmp_path, depth, rows):
    frames = [1]
    run = host(engine.directory, tmp_path, frames, "--depth", depth, "--rows", rows, "--bounds-margin", "3",
               "--components", "RGB")
    run.check_clean()
    if depth == "half":  # the host's half samples of the pattern, as the engine receives them
        expected = python_frames(engine, frames, source=lambda i: source_frame(i, W, H).astype(np.float16)
                                 .astype(np.float32))[1]
        expected = expected.astype(np.float16).astype(np.float32)
    else:  # k/255 is exact in 8 and 16 bits: the engine gets the float pattern itself
        top = 255 if depth == "byte" else 65535
        expected = python_frames(engine, frames)[1]
        expected = (np.rint(np.clip(expected, 0, 1) * np.float32(top)) / np.float32(top)).astype(np.float32)
    assert np.allclose(run.pixels[0, :, :, :3], expected, rtol=0, atol=1e-7 if depth != "half" else 0)


def test_premultiplied_alpha_is_resampled_and_applied_again(engine, tmp_path):
    run = host(engine.directory, tmp_path, [2], "--premult", "--alpha", "ramp")
    run.check_clean()
    alpha = run.pixels[0, :, :, 3]
    assert alpha[:, 0].max() < 0.05 and alpha[:, -1].min() > 0.95
    assert np.all(np.diff(alpha, axis=1) >= -1e-6)  # the ramp stays a ramp
    # Colour / alpha is the pattern again (to rounding), except where alpha is 0 (the left column):
    # there the straight colour is lost and sent as black.
    def unpremultiplied(i):
        frame = source_frame(i, W, H)
        frame[:, 0] = 0
        return frame

    straight = python_frames(engine, [2], source=unpremultiplied)[2]
    assert np.allclose(run.pixels[0, :, :, :3], straight * alpha[..., None], atol=2e-3)


def test_host_without_temporal_access_renders_each_frame_alone(engine, tmp_path):
    run = host(engine.directory, tmp_path, [5, 6], "--no-temporal")
    run.check_clean()  # it never asked for a frame other than the one being rendered
    assert all(status == 0 for status, _m in run.renders.values())
    assert_same_rgb(run, [5, 6], python_frames(engine, [5, 6], settings=NO_TEMPORAL))


def test_host_without_multiresolution_gets_the_frame_size_pillarboxed(engine, tmp_path):
    """Resolve's Edit page: the output keeps the frame size; a 4:3 source (here 12x9 square pixels,
    before the host stretched it to 24x16) is upscaled and fitted inside, bars at the sides."""
    run = host(engine.directory, tmp_path, [4], "--no-multires", "--nan-fill",
               params={"source_width": 12, "source_height": 9})
    run.check_clean()
    assert (run.width, run.height) == (W, H)
    frame = run.pixels[0]
    assert not np.isnan(frame).any()
    fit_w = round(H * 12 / 9)  # 21: the 4:3 picture at the frame's height
    left = (W - fit_w) // 2
    assert np.all(frame[:, :left] == 0) and np.all(frame[:, left + fit_w:] == 0)
    picture = frame[:, left:left + fit_w]
    assert np.allclose(picture[..., 3], 1.0, atol=1e-6) and picture[..., :3].max() > 0.1


def test_nan_filled_output_is_fully_written(engine, tmp_path):
    run = host(engine.directory, tmp_path, [7], "--nan-fill", "--depth", "half")
    run.check_clean()
    assert not np.isnan(run.pixels).any()


def test_proxy_render_uses_the_preview_at_the_proxy_size(engine, tmp_path):
    run = host(engine.directory, tmp_path, [3], "--render-scale", "0.5")
    run.check_clean()
    assert (run.width, run.height) == (W, H)  # half of the full-size 2x output
    expected = python_frames(engine, [3], W // 2, H // 2, settings={"quality": "preview"})
    assert_same_rgb(run, [3], expected)
