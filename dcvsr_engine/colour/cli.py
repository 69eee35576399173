"""The colour flags of `dcvsr upscale`, and `dcvsr colourspaces`."""

from __future__ import annotations

import argparse
from typing import Protocol

from dcvsr_protocol.colour import ColourTags

from .config import CONFIG, config
from .model_space import ModelColour


class _Clip(Protocol):  # what is read of an io.Clip (colour sits below io in the layers)
    colour: ColourTags
    width: int
    height: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"colour (OpenColorIO, {CONFIG}; `dcvsr colourspaces` lists "
                                      "the spaces)")
    group.add_argument("--input-colorspace", metavar="NAME",
                       help="the input's colour space, replacing its tags (default: from the tags)")
    group.add_argument("--output-colorspace", metavar="NAME",
                       help="convert the output into this colour space (default: the input's)")


def from_args(tags: ColourTags, width: int, height: int, args: argparse.Namespace) -> ModelColour:
    """The conversion for a clip with these tags and size, as the flags ask."""
    return ModelColour.for_clip(tags.transfer, tags.primaries, width, height, args.input_colorspace,
                                args.output_colorspace)


def job_colour(clip: _Clip, args: argparse.Namespace) -> ModelColour:
    """The conversion for a job's clip (a video's tags, an image sequence's sRGB)."""
    return from_args(clip.colour, clip.width, clip.height, args)


def add_parser(sub: argparse._SubParsersAction) -> None:
    listing = sub.add_parser("colourspaces", help="list the colour spaces --input/--output-colorspace take")
    listing.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    print(f"# {CONFIG}: name, encoding, aliases")
    for space in config().getColorSpaces():
        aliases = ", ".join(space.getAliases())
        print(f"{space.getName()}\t{space.getEncoding()}\t{aliases}")
    return 0
