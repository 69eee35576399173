"""The settings description, re-exported from the client package where it lives (see there)."""

from dcvsr_client.settings import Settings, add_arguments, flag_name, overrides_from_args

__all__ = ["Settings", "add_arguments", "flag_name", "overrides_from_args"]
