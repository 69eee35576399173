"""Reaching Ray: the optional import, a local instance or a running cluster, within a bounded time.

Ray is an optional dependency (`pip install dcvsr[cluster]`), imported only here and only for
`--cluster`. Its client retries an unreachable `ray://` address for about 30 s by default (three
tries of 5, 10 and 15 s); dcvsr gives each of the three tries CONNECT_TIMEOUT_S through Ray's own
settings (RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S, RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S), which a
user may set otherwise in the environment.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

from dcvsr_protocol.errors import ClusterError

from .address import ClusterAddress

CONNECT_TIMEOUT_S = 5
_TRIES = 3  # Ray's client makes three connection attempts


def import_ray() -> ModuleType:
    """Ray, or a ClusterError that says how to install it. The client's timeouts are read when Ray's
    client module is imported, so they are set before."""
    for name in ("RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S", "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S"):
        os.environ.setdefault(name, str(CONNECT_TIMEOUT_S))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave a render farm unasked
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"--cluster needs Ray, which is not installed ({exc}): "
                           "pip install 'dcvsr[cluster]'") from None
    return ray


def connect(address: ClusterAddress, local_cpus: int, local_gpus: int) -> ModuleType:
    """Connect to the cluster, or start a local instance with `local_cpus` CPUs and `local_gpus` GPUs;
    returns the ray module. An unreachable address is a ClusterError after about
    3 x CONNECT_TIMEOUT_S."""
    ray = import_ray()
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address.url is None:
        ray.init(num_cpus=local_cpus, num_gpus=local_gpus, include_dashboard=False, **quiet)
        return ray
    try:
        ray.init(address.url, **quiet)
    except ConnectionError as exc:
        waited = _TRIES * int(os.environ["RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S"])
        raise ClusterError(f"--cluster {address.url}: no Ray cluster answered in about {waited} s ({exc}); "
                           "is its head node running (`ray start --head`) with its client port "
                           "reachable from here?") from None
    except ValueError as exc:  # e.g. Ray without its client extra
        raise ClusterError(f"--cluster {address.url}: {exc}") from None
    return ray
