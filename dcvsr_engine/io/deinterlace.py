"""Deinterlacing with FFmpeg's estdif filter (edge slope tracing), one frame at a time.

estdif is spatial only: each frame is rebuilt from its own fields, never from its neighbours,
so a frame deinterlaces the same whether it is decoded after a seek or in order, which keeps
resumed and segment-wise renders bit-identical. One frame in, one frame out (mode=frame).
"""

from __future__ import annotations

import av

# FFmpeg's AVFieldOrder, as probe reports it.
FIELD_ORDERS = {0: "unknown field order", 1: "progressive", 2: "top field first", 3: "bottom field first",
                4: "top field coded first, bottom shown first",
                5: "bottom field coded first, top shown first"}


def deinterlace(frame: av.VideoFrame) -> av.VideoFrame:
    graph = av.filter.Graph()
    source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                              time_base=frame.time_base or 1)
    fields = graph.add("estdif", "mode=frame:parity=auto:deint=all")
    sink = graph.add("buffersink")
    source.link_to(fields)
    fields.link_to(sink)
    graph.configure()
    graph.push(frame)
    graph.push(None)
    return graph.pull()
