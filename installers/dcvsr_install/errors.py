"""The installer's errors: each says what is wrong and what to do."""

from dcvsr_protocol.errors import DCVSRError


class InstallError(DCVSRError):
    """An install, upgrade or uninstall that cannot be done as asked; nothing was changed."""
