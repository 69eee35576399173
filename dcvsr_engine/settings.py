"""The settings description, re-exported from the client package where it lives (see there)."""

from dcvsr_client.settings import (
    DEFAULT_QUALITY,
    QUALITIES,
    Settings,
    add_arguments,
    check_quality,
    flag_name,
    overrides_from_args,
)

__all__ = ["DEFAULT_QUALITY", "QUALITIES", "Settings", "add_arguments", "check_quality", "flag_name",
           "overrides_from_args"]
