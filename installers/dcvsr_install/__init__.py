"""dcvsr_install: `dcvsr install`, `uninstall` and `doctor`: the host plugins, the engine command and
service, and a manifest of what was written (see installers/README.md)."""
