"""What the installer puts in place: DCVSR.ofx.bundle, compiled here by the wheel's build hook (setup.py)
from ofx_bridge/; absent from a checkout until then (and from a pure wheel built without the bridge)."""
