"""A first run that explains itself: --help without torch and with the running model's defaults,
`dcvsr status` for a person, `dcvsr doctor`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.engine_process import EngineProcess, child_env, short_runtime_dir

HELP_PROBE = """
import sys
from dcvsr_engine.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "diffusers", "transformers"))
print("HEAVY:" + ",".join(heavy))
"""


def _help(tmp_path, *args: str) -> str:
    env = child_env(tmp_path, DCVSR_MODEL_DIR=str(tmp_path / "no_models"))
    result = subprocess.run([sys.executable, "-c", HELP_PROBE, *args], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("HEAVY:"), result.stdout[-400:]  # nothing heavy was imported
    return result.stdout


@pytest.mark.parametrize("args", [["--help"], ["upscale", "--help"], ["status", "--help"],
                                  ["doctor", "--help"], ["install", "--help"], ["models", "list", "--help"]])
def test_help_imports_no_torch(tmp_path, args):
    _help(tmp_path, *args)


def test_upscale_help_shows_the_running_models_defaults(tmp_path):
    """Without installed weights nano runs at the default quality (standard): its dcvsr.json values for
    that preset (1 step, one 136-latent tile per frame, 8 frames) are what --help shows, beside the
    built-in (SVD-sized) ones."""
    text = " ".join(_help(tmp_path, "upscale", "--help").split())
    assert "shown for nano, the model that runs without --model" in text
    assert "diffusion steps (Euler, Karras sigmas) (default: 1; built-in 25)" in text
    assert "(default: 136; built-in 64)" in text  # tile_size
    assert "(default: 8; built-in 14)" in text  # tile_frames
    assert "(default: 0; " not in text.split("--seed")[1][:120]  # seed: no model default, no "built-in"


def test_status_for_a_person_and_as_json(monkeypatch):
    directory = short_runtime_dir()
    with EngineProcess(directory):
        env = child_env(directory, DCVSR_AUTOSTART="0")
        command = [sys.executable, "-m", "dcvsr_engine.cli", "status"]
        person = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
        raw = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert person.returncode == 0 and raw.returncode == 0, person.stderr + raw.stderr
    info = json.loads(raw.stdout)
    lines = person.stdout.splitlines()
    assert lines[0].startswith(f"engine running: pid {info['pid']}, dcvsr {info['version']}, up ")
    assert f"  renderer: {info['renderer']}" in lines
    assert f"  runtime folder: {info['runtime_dir']}" in lines
    assert "{" not in person.stdout


def test_status_without_an_engine(tmp_path):
    env = child_env(short_runtime_dir(), DCVSR_AUTOSTART="0")
    result = subprocess.run([sys.executable, "-m", "dcvsr_engine.cli", "status"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 1 and result.stdout.strip() == "no engine is running"


def test_doctor_reports_engine_models_and_problems(tmp_path):
    directory = short_runtime_dir()
    home = tmp_path / "home"
    env = child_env(directory, DCVSR_AUTOSTART="0", HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                    XDG_DATA_HOME=str(home / ".local/share"), DCVSR_MODEL_DIR=str(tmp_path / "models"),
                    DCVSR_CACHE_DIR=str(tmp_path / "cache"))
    (tmp_path / "cache" / "frames").mkdir(parents=True)
    (tmp_path / "cache" / "frames" / "entry").write_bytes(b"x" * 5000)
    command = [sys.executable, "-m", "dcvsr_engine.cli", "doctor", "--vapoursynth-python", sys.executable]
    with EngineProcess(directory):
        report = json.loads(subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120,
                                           env=env).stdout)
        person = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env).stdout
    assert report["engine"]["running"] is True and report["engine"]["renderer"] == "noop"
    assert [m["name"] for m in report["models"] if m["default"]] == ["nano"]
    assert report["render_cache"] == {"folder": str(tmp_path / "cache"), "bytes": 5000, "limit": "8G"}
    assert report["installed"] == []
    assert report["vapoursynth"]["executable"] == sys.executable
    if report["vapoursynth"].get("vapoursynth") != report["vapoursynth"].get("core"):
        # The 3.11 route (scripts/install-vapoursynth) runs an R73 module on the R81 core: doctor says why
        # the warning it prints is harmless.
        assert "harmless" in report["vapoursynth"]["note"] and "harmless" in person
    assert "engine: running" in person and "model nano (default): shipped" in person
    assert "render cache: 5.0 KB" in person
    for problem in report["problems"]:  # each problem says what to do
        assert problem["fix"]
