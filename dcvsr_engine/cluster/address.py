"""The `--cluster` value: a local Ray instance (`local`, `local:N`) or a running cluster (`ray://HOST:PORT`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dcvsr_protocol.errors import SettingsError

LOCAL = "local"
_RAY_URL = re.compile(r"ray://[^\s/:]+:\d{1,5}")


@dataclass(frozen=True)
class ClusterAddress:
    url: str | None       # ray://HOST:PORT; None: start a local Ray instance
    workers: int | None   # local:N; None: one worker per GPU (or per --threads CPUs)

    def describe(self) -> str:
        if self.url:
            return self.url
        return LOCAL if self.workers is None else f"{LOCAL}:{self.workers}"


def parse_cluster(value: str) -> ClusterAddress:
    """`local`, `local:N` (N >= 1) or `ray://HOST:PORT`; anything else is a SettingsError."""
    if value == LOCAL:
        return ClusterAddress(None, None)
    if value.startswith(LOCAL + ":"):
        count = value.removeprefix(LOCAL + ":")
        if count.isdigit() and int(count) >= 1:
            return ClusterAddress(None, int(count))
    elif _RAY_URL.fullmatch(value):
        return ClusterAddress(value, None)
    raise SettingsError(f"--cluster {value!r}: give local, local:N (N workers on this machine) or "
                        "ray://HOST:PORT (a running Ray cluster's client address)")
