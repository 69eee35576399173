"""The OpenColorIO config every conversion uses: a built-in config pinned by its versioned name.

A built-in config ships inside the OpenColorIO library, so no file is read and every machine with
the library has the same one; naming its version (never `ocio://default`, which moves with the
library) keeps conversions the same when OpenColorIO is upgraded. The studio config v2.2.0 ships
with OpenColorIO 2.4 and later (pyproject.toml's floor). It is chosen over the newer ACES 2 configs
because it still has a Rec.1886 Rec.2020 display space (BT.2020 SDR video), which they dropped.
"""

from __future__ import annotations

from functools import lru_cache

import PyOpenColorIO as ocio

CONFIG = "ocio://studio-config-v2.2.0_aces-v1.3_ocio-v2.4"


@lru_cache(maxsize=1)
def config() -> ocio.Config:
    return ocio.Config.CreateFromFile(CONFIG)


def colour_space_names() -> list[str]:
    return [space.getName() for space in config().getColorSpaces()]


def canonical_name(name: str) -> str | None:
    """The config's name for a colour space given by its name or one of its aliases; None if unknown."""
    space = config().getColorSpace(name)
    return space.getName() if space is not None else None


def encoding(name: str) -> str:
    """The space's encoding: 'sdr-video', 'hdr-video', 'scene-linear', 'log' or 'data'."""
    return config().getColorSpace(name).getEncoding()
