"""Where `dcvsr install` puts things, for each platform and scope.

A Layout holds every target path for one (platform, scope, prefix). Paths are computed as the target
platform writes them (PurePosixPath or PureWindowsPath) and then placed: as they are for a real
install, or under `--prefix` (a fake root: `/usr/OFX/Plugins` becomes `PREFIX/usr/OFX/Plugins`,
`C:\\Program Files\\...` becomes `PREFIX/C/Program Files/...`), so that every platform's layout can be
installed and checked on any machine.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from dcvsr_protocol import engine_command_file

from .errors import InstallError

PLATFORMS = {"linux": "linux", "macos": "darwin", "windows": "win32"}
BUNDLE = "DCVSR.ofx.bundle"
SERVICE_NAME = "dcvsr-engine"
LAUNCHD_LABEL = "org.dcvsr.engine"
OFX_ENV_FILE = "60-dcvsr-ofx.conf"


def platform_name(platform: str) -> str:
    """The user-facing name (linux, macos, windows) of a sys.platform value."""
    for name, value in PLATFORMS.items():
        if platform == value or platform.startswith(value):
            return name
    raise InstallError(f"unsupported platform {platform!r}: dcvsr installs on Linux, macOS and Windows")


@dataclass(frozen=True)
class Layout:
    platform: str  # sys.platform style: linux, darwin, win32
    scope: str  # "user" or "system"
    prefix: Path | None
    home: PurePath
    env: dict[str, str]

    @classmethod
    def current(cls, scope: str, prefix: Path | None, platform: str | None = None,
                env: dict[str, str] | None = None, home: PurePath | None = None) -> Layout:
        platform = PLATFORMS[platform] if platform else PLATFORMS[platform_name(sys.platform)]
        if platform != PLATFORMS[platform_name(sys.platform)] and prefix is None:
            raise InstallError(f"another platform's layout ({platform_name(platform)}) can only be installed "
                               "into a fake root: add --prefix DIR")
        env = dict(os.environ if env is None else env)
        if home is None:
            home = PureWindowsPath(env.get("USERPROFILE", "C:\\Users\\user")) if platform == "win32" \
                else PurePosixPath(Path.home())
        return cls(platform, scope, prefix, home, env)

    @property
    def name(self) -> str:
        return f"{platform_name(self.platform)}/{self.scope}"

    def _pure(self, *parts: str) -> PurePath:
        return PureWindowsPath(*parts) if self.platform == "win32" else PurePosixPath(*parts)

    def place(self, target: PurePath) -> Path:
        """Where `target` (a path on the target platform) is written: itself, or under the prefix."""
        if self.prefix is None:
            return Path(target)
        if isinstance(target, PureWindowsPath):
            parts = [target.drive.rstrip(":") or "C", *target.parts[1:]]
        else:
            parts = list(PurePosixPath(target).parts[1:])
        return self.prefix.joinpath(*parts)

    # -- per-user and machine-wide folders ---------------------------------------------------------
    def data_dir(self) -> PurePath:
        """dcvsr's own folder: the user's data folder, or the machine's."""
        if self.platform == "win32":
            if self.scope == "user":
                local = self.env.get("LOCALAPPDATA") or str(self.home / "AppData" / "Local")
                return self._pure(local, "dcvsr")
            return self._pure(self.env.get("PROGRAMDATA") or "C:\\ProgramData", "dcvsr")
        if self.platform == "darwin":
            base = self.home / "Library" if self.scope == "user" else self._pure("/Library")
            return base / "Application Support" / "dcvsr"
        if self.scope == "user":
            return self._pure(self.env.get("XDG_DATA_HOME") or str(self.home / ".local" / "share"), "dcvsr")
        return self._pure("/var/lib/dcvsr")

    def cache_dir(self) -> PurePath:
        """The engine's render cache (user data: kept by uninstall unless --purge)."""
        if self.platform == "win32":
            return self._pure(self.env.get("LOCALAPPDATA") or str(self.home / "AppData" / "Local"), "dcvsr",
                              "Cache")
        if self.platform == "darwin":
            return self.home / "Library" / "Caches" / "dcvsr"
        return self._pure(self.env.get("XDG_CACHE_HOME") or str(self.home / ".cache"), "dcvsr")

    def manifest(self) -> Path:
        return self.place(self.data_dir() / "install-manifest.json")

    def engine_command_file(self) -> Path:
        if self.scope == "user":
            return self.place(engine_command_file.user_file(self.platform, self.env, self.home))
        return self.place(engine_command_file.system_file(self.platform, self.env))

    def ofx_dir(self) -> Path:
        """The OpenFX plugin folder: the platform's standard one, or for --user a private one."""
        if self.scope == "user":
            return self.place(self.data_dir() / "OFX" / "Plugins")
        if self.platform == "win32":
            common = self.env.get("CommonProgramFiles") or "C:\\Program Files\\Common Files"
            return self.place(self._pure(common, "OFX", "Plugins"))
        if self.platform == "darwin":
            return self.place(self._pure("/Library/OFX/Plugins"))
        return self.place(self._pure("/usr/OFX/Plugins"))

    def ofx_env_file(self) -> Path | None:
        """Linux --user: the environment.d file that puts ofx_dir on desktop hosts' OFX_PLUGIN_PATH."""
        if self.platform != "linux" or self.scope != "user":
            return None
        config = self.env.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return self.place(self._pure(config, "environment.d", OFX_ENV_FILE))

    def host_python_dir(self) -> Path:
        """The client and plugin packages copied for a VapourSynth Python that lacks them."""
        return self.place(self.data_dir() / "python")

    def service_file(self) -> Path:
        if self.platform == "win32":
            return self.place(self.data_dir() / f"{SERVICE_NAME}.task.xml")
        if self.platform == "darwin":
            base = self.home / "Library" if self.scope == "user" else self._pure("/Library")
            return self.place(base / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist")
        if self.scope == "user":
            config = self.env.get("XDG_CONFIG_HOME") or str(self.home / ".config")
            return self.place(self._pure(config, "systemd", "user", f"{SERVICE_NAME}.service"))
        # A user unit for every user: the engine is per user (its runtime folder and token are).
        return self.place(self._pure("/etc/systemd/user", f"{SERVICE_NAME}.service"))

    def log_dir(self) -> PurePath:
        return self.data_dir() / "logs"

    def is_native(self) -> bool:
        """Whether this is the running machine's platform (whose Pythons can be asked things)."""
        return self.platform == PLATFORMS[platform_name(sys.platform)]

    def is_real(self) -> bool:
        """Whether this layout is the running machine's own (not a fake root): only then are services
        enabled and host checks run."""
        return self.prefix is None
