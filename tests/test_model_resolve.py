"""`--model` names and paths, $DCVSR_MODEL_DIR, and the message when no model is installed."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest
from dcvsr_protocol.errors import ModelError

from dcvsr_engine.model import default_model, layout, resolve_model_path
from dcvsr_engine.model.layout import models_dir


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty model folder, and no shipped nano model (its fallback is pinned in test_nano.py)."""
    path = tmp_path / "models"
    path.mkdir()
    monkeypatch.setenv("DCVSR_MODEL_DIR", str(path))
    monkeypatch.setattr(layout, "SHIPPED_DIR", tmp_path / "no-shipped-models")
    return path


def _install(store: Path, name: str, source: Path) -> Path:
    (store / name).symlink_to(source, target_is_directory=True)
    return store / name


def test_models_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("DCVSR_MODEL_DIR", raising=False)
    assert models_dir() == Path(platformdirs.user_data_dir("dcvsr")) / "models"
    monkeypatch.setenv("DCVSR_MODEL_DIR", str(tmp_path / "elsewhere"))
    assert models_dir() == tmp_path / "elsewhere"


def test_nothing_installed_says_so_plainly(store):
    with pytest.raises(ModelError) as err:
        default_model()
    message = str(err.value)
    assert "No DC-VSR model is installed" in message
    assert str(store / "dc-vsr") in message
    assert "dcvsr models pull dc-vsr" in message and "dcvsr models make-tiny DIR" in message
    with pytest.raises(ModelError, match="No DC-VSR model is installed"):
        resolve_model_path(None)


def test_known_name_not_installed(store):
    with pytest.raises(ModelError) as err:
        resolve_model_path("dc-vsr")
    assert "not installed" in str(err.value) and str(store / "dc-vsr") in str(err.value)


def test_unknown_name_lists_known_names(store, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError) as err:
        resolve_model_path("nonesuch")
    assert "nonesuch" in str(err.value) and "dc-vsr" in str(err.value)


def test_installed_names_resolve_under_the_model_dir(store, tiny_model_dir):
    published = _install(store, "dc-vsr", tiny_model_dir)
    assert default_model() == published
    assert resolve_model_path(None) == published
    assert resolve_model_path("dc-vsr") == published
    other = _install(store, "my-model", tiny_model_dir)
    assert resolve_model_path("my-model") == other


def test_paths_resolve_to_themselves(store, tiny_model_dir, tmp_path, monkeypatch):
    assert resolve_model_path(tiny_model_dir) == tiny_model_dir
    assert resolve_model_path(str(tiny_model_dir)) == tiny_model_dir
    monkeypatch.chdir(tiny_model_dir.parent)
    assert resolve_model_path(f"./{tiny_model_dir.name}") == Path(".") / tiny_model_dir.name
    assert resolve_model_path(tiny_model_dir.name) == Path(tiny_model_dir.name)  # bare folder name in cwd
    with pytest.raises(ModelError, match="no model folder at") as err:
        resolve_model_path(str(tmp_path / "missing"))
    assert str(tmp_path / "missing") in str(err.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_model_path(tmp_path / "file")


def test_half_installed_folder_is_not_the_default(store):
    (store / "dc-vsr" / "vae").mkdir(parents=True)  # an interrupted copy: no dcvsr.json
    with pytest.raises(ModelError, match="No DC-VSR model is installed"):
        default_model()
