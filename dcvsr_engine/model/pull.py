"""Fetching the published DC-VSR model from the Hugging Face Hub into the dcvsr layout.

SVD img2vid gives the VAE, the CLIP image encoder, its preprocessing and the scheduler;
Janghyeok/dc-vsr gives the fine-tuned UNet (EMA weights). Files already in the local
Hugging Face cache are used without touching the network. Only JSON and safetensors files
are fetched. The result is hard-linked (or copied) out of the cache, never symlinked into it,
so clearing the cache does not break the model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import ModelError

from .info import make_info
from .layout import (
    DCVSR_JSON,
    FEATURE_EXTRACTOR,
    IMAGE_ENCODER,
    KNOWN_MODELS,
    MODEL_INDEX,
    PICKLE_SUFFIXES,
    PUBLISHED,
    SCHEDULER,
    UNET,
    VAE,
    Component,
    build_folder,
    find_weights,
    model_index,
    models_dir,
    shard_pattern,
    weight_candidates,
    weights_entry,
    write_json,
)
from .svd import SVD_REPO

DCVSR_REPO = "Janghyeok/dc-vsr"
BASE_COMPONENTS = (VAE, IMAGE_ENCODER, FEATURE_EXTRACTOR, SCHEDULER)
# The paper's sampling setup (25 Euler steps, 64-latent / 14-frame tiles overlapping by half).
PUBLISHED_DEFAULTS = {"steps": 25, "tile_size": 64, "tile_frames": 14, "tile_overlap": 0.5,
                      "frame_overlap": 0.5}
PUBLISHED_DESCRIPTION = (f"DC-VSR: the authors' fine-tuned UNet (EMA weights, {DCVSR_REPO}) with the VAE, "
                         f"CLIP image encoder and scheduler of {SVD_REPO}.")
# huggingface_hub's own requests have no timeout; our first request to the Hub has this one.
TIMEOUT_S = 10.0


def pull(name: str = PUBLISHED, dest: Path | None = None) -> Path:
    """Fetch model `name` into `dest` (default: $DCVSR_MODEL_DIR/<name>) and return the folder."""
    if name not in KNOWN_MODELS:
        raise ModelError(f"unknown model {name!r}: `pull` knows {', '.join(KNOWN_MODELS)}")
    dest = Path(dest).expanduser() if dest is not None else models_dir() / name
    _check_dest(dest)
    base = _fetch(SVD_REPO, BASE_COMPONENTS, dest)
    unet = _fetch(DCVSR_REPO, (UNET,), dest)
    _assemble([(c, base) for c in BASE_COMPONENTS] + [(UNET, unet)], dest,
              make_info(name, PUBLISHED_DESCRIPTION, PUBLISHED_DEFAULTS))
    return dest


# -- the Hub -----------------------------------------------------------------------------------
def _hub_cache() -> Path:
    # Read at call time: huggingface_hub reads its environment once, at import.
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def _endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return env in ("1", "ON", "YES", "TRUE") or (env == "" and bool(constants.HF_HUB_OFFLINE))


def _needs(components: tuple[Component, ...]) -> str:
    return ", ".join(f"{c.folder}/" for c in components)


def _fetch(repo: str, components: tuple[Component, ...], dest: Path) -> Path:
    """A local snapshot of `repo` holding usable files for `components`: from the cache, else the Hub."""
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, IncompleteSnapshotError

    cache = _hub_cache()
    wanted = [f"{c.folder}/{c.config}" for c in components]
    try:
        cached: Path | None = Path(huggingface_hub.snapshot_download(
            repo, local_files_only=True, cache_dir=cache, allow_patterns=wanted))
    except IncompleteSnapshotError as e:
        cached = Path(e.snapshot_path) if getattr(e, "snapshot_path", None) else None
    except (OSError, ValueError):  # not cached (LocalEntryNotFoundError is an OSError)
        cached = None
    problem = _unusable(cached, components) if cached is not None else "not cached"
    if problem is None:
        return cached
    where = (f"it is not in the Hugging Face cache at {cache}" if cached is None
             else f"its copy in the Hugging Face cache at {cache} is incomplete: {problem}")
    advice = (f"Connect to the network and run `dcvsr models pull {PUBLISHED}` again, or put a complete "
              f"model folder in the dcvsr layout at {dest}.")
    if _offline():
        raise ModelError(f"cannot pull {repo} ({_needs(components)}): {where}, and HF_HUB_OFFLINE is set. "
                         + advice)
    endpoint = _endpoint()
    api = huggingface_hub.HfApi(endpoint=endpoint)
    try:
        info = api.model_info(repo, timeout=TIMEOUT_S)
    except Exception as e:  # connection refused, DNS, timeout, HTTP errors: all mean "not from here"
        hub = "refused" if isinstance(e, HfHubHTTPError) else "cannot be reached"
        raise ModelError(f"cannot pull {repo} ({_needs(components)}): {where}, and the Hub at {endpoint} "
                         f"{hub} ({type(e).__name__}: {e}). " + _access_advice(e, repo, endpoint)
                         + advice) from e
    files = _choose(repo, [s.rfilename for s in (info.siblings or [])], components)
    try:
        folder = Path(huggingface_hub.snapshot_download(
            repo, revision=info.sha, cache_dir=cache, endpoint=endpoint, allow_patterns=files,
            etag_timeout=TIMEOUT_S))
    except Exception as e:
        raise ModelError(f"downloading {repo} from {endpoint} failed ({type(e).__name__}: {e}). "
                         + _access_advice(e, repo, endpoint) + advice) from e
    problem = _unusable(folder, components)
    if problem is not None:
        raise ModelError(f"downloaded {repo} but {problem}. " + advice)
    return folder


def _access_advice(error: Exception, repo: str, endpoint: str) -> str:
    """For gated or private repos (SVD's needs its license accepted): how to get access."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) if isinstance(error, HfHubHTTPError) else None
    if isinstance(error, GatedRepoError) or status in (401, 403):
        return (f"{repo} needs you to accept its license at {endpoint}/{repo} and to log in "
                "(`hf auth login`, or set HF_TOKEN). ")
    return ""


def _unusable(folder: Path, components: tuple[Component, ...]) -> str | None:
    """Why `folder` cannot provide `components`, or None when it can."""
    for c in components:
        config = folder / c.folder / c.config
        if not config.is_file():
            return f"{config} is missing"
        if c.weights:
            try:
                find_weights(folder / c.folder, c.weights)
            except ModelError as e:
                return str(e)
    return None


def _choose(repo: str, names: list[str], components: tuple[Component, ...]) -> list[str]:
    """The repo files to download: each config and the preferred safetensors weights."""
    present = set(names)
    files: list[str] = []
    for c in components:
        config = f"{c.folder}/{c.config}"
        if config not in present:
            raise ModelError(f"{repo} has no {config}; it is not a model dcvsr can use")
        files.append(config)
        if not c.weights:
            continue
        candidates = [f"{c.folder}/{n}" for n in weight_candidates(c.weights)]
        entry = next((n for n in candidates if n in present), None)
        if entry is None:
            pickles = sorted(n for n in names if n.startswith(c.folder + "/")
                             and os.path.splitext(n)[1].lower() in PICKLE_SUFFIXES)
            if pickles:
                raise ModelError(f"{repo} has only a pickle checkpoint for {c.folder} ({pickles[0]}): pickle "
                                 "checkpoints are refused because loading them can run arbitrary code")
            raise ModelError(f"{repo} has no safetensors weights for {c.folder}")
        files.append(entry)
        if entry.endswith(".json"):
            pattern = shard_pattern(c.weights, fp16="fp16" in entry.rsplit("/", 1)[1])
            files += [n for n in names if n.startswith(c.folder + "/")
                      and pattern.fullmatch(n.rsplit("/", 1)[1])]
    return files


# -- laying the files out ----------------------------------------------------------------------
def _check_dest(dest: Path) -> None:
    # Never replace a folder that is not ours: only an empty one or an earlier dcvsr model.
    if dest.exists() and not (dest.is_dir() and (not any(dest.iterdir()) or (dest / DCVSR_JSON).is_file())):
        raise ModelError(f"{dest} exists and is not a dcvsr model folder; move it away or choose another "
                         "place")


def _assemble(sources: list[tuple[Component, Path]], dest: Path, info: dict[str, Any]) -> None:
    """Lay `sources` out at `dest`; built beside it and swapped into place (build_folder)."""

    def build(work: Path) -> None:
        for comp, src in sources:
            (work / comp.folder).mkdir()
            files = [src / comp.folder / comp.config]
            if comp.weights:
                entry = weights_entry(src / comp.folder, comp.weights)
                files += [entry] if entry is not None and entry.suffix == ".json" else []
                files += find_weights(src / comp.folder, comp.weights)
            for f in files:
                _place(f, work / comp.folder / f.name)
        write_json(work / MODEL_INDEX, model_index())
        write_json(work / DCVSR_JSON, info)  # last: marks the folder complete

    build_folder(dest, build, may_replace=_check_dest)


def _place(src: Path, dst: Path) -> None:
    real = src.resolve()  # cache entries are symlinks into blobs/
    try:
        os.link(real, dst)
    except OSError:  # another file system, or links not supported
        shutil.copyfile(real, dst)


