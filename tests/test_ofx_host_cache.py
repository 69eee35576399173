"""The test host's --cached-sources (what bench/bench_ofx.py runs): source frames made before the
clock and handed out as they are give the plug-in the same pixels, in every row layout, with
margins and premultiplied alpha, and every image is still released."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_ofx_effect import built, engine, host  # noqa: F401 (pytest fixtures)

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("rows", ["tight", "padded", "negative"])
def test_cached_sources_render_the_same_pixels(engine, tmp_path, rows):  # noqa: F811
    frames = [3, 4]
    options = ("--rows", rows, "--bounds-margin", "2", "--premult", "--alpha", "ramp")
    made = host(engine.directory, tmp_path, frames, *options)
    cached = host(engine.directory, tmp_path, frames, *options, "--cached-sources")
    made.check_clean()
    cached.check_clean()
    assert cached.fetched_source == made.fetched_source
    assert np.array_equal(cached.pixels, made.pixels, equal_nan=True)
    assert not np.array_equal(cached.pixels[0], cached.pixels[1])  # frames differ: not one image handed twice
