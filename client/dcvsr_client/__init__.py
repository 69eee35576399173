"""dcvsr_client: the Python client of the dcvsr frame server (the protocol is dcvsr_protocol).

Hosts (the VapourSynth plugin, scripts) use this to reach the engine; it needs
only numpy, and importing it imports no torch.

    from dcvsr_client import Client
    with Client.connect() as client, client.open("clip-id", 960, 540, 100, settings={"scale": 4}) as s:
        for index, frame in s.render(0, 100, source=lambda i: frames[i]):
            ...
"""

from dcvsr_protocol import Code, PixelFormat
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.errors import DCVSRClientError, EngineError, EngineGone, EngineStartError, ProtocolError

from .client import Client
from .session import Session
from .version import __version__

__all__ = [
    "Client", "Code", "ColourTags", "DCVSRClientError", "EngineError", "EngineGone", "EngineStartError",
    "PixelFormat", "ProtocolError", "Session", "__version__",
]
