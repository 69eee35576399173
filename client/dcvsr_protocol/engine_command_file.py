"""The engine command file: how a client that is not the engine's Python starts an engine.

`dcvsr install` writes it (docs/protocol.md, "Starting an engine"); the OpenFX bridge's C client and
this package read it. Format: UTF-8 text whose first line is the command, its words quoted like a
POSIX shell's (plain words, '...' taken literally, "..." with backslash escapes; no expansion); what
follows the first line is ignored. Where it is, the first that exists wins:

    $DCVSR_ENGINE_COMMAND_FILE
    the user's file    ${XDG_CONFIG_HOME:-~/.config}/dcvsr/engine-command (Linux, macOS)
                       %APPDATA%\\dcvsr\\engine-command (Windows)
    the system's file  /etc/dcvsr/engine-command (Linux, macOS)
                       %PROGRAMDATA%\\dcvsr\\engine-command (Windows)
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from .errors import EngineStartError

FILE_NAME = "engine-command"
MAX_BYTES = 4096  # the C client reads at most this much


def user_file(platform: str = sys.platform, env: dict[str, str] | None = None,
              home: PurePath | None = None) -> PurePath:
    """The user's engine command file on `platform` ("linux", "darwin", "win32")."""
    env = os.environ if env is None else env
    if platform == "win32":
        appdata = env.get("APPDATA") or str(PureWindowsPath(home or Path.home(), "AppData", "Roaming"))
        return PureWindowsPath(appdata, "dcvsr", FILE_NAME)
    config = env.get("XDG_CONFIG_HOME") or str(PurePosixPath(home or Path.home(), ".config"))
    return PurePosixPath(config, "dcvsr", FILE_NAME)


def system_file(platform: str = sys.platform, env: dict[str, str] | None = None) -> PurePath:
    """The machine-wide engine command file on `platform`."""
    env = os.environ if env is None else env
    if platform == "win32":
        return PureWindowsPath(env.get("PROGRAMDATA") or "C:\\ProgramData", "dcvsr", FILE_NAME)
    return PurePosixPath("/etc/dcvsr", FILE_NAME)


def render(command: list[str]) -> str:
    """The file's text for `command`: one line, each word quoted when it needs to be."""
    text = shlex.join(command) + "\n"
    if not command or "\n" in text[:-1] or "\r" in text or len(text.encode()) > MAX_BYTES:
        raise EngineStartError(f"cannot write engine command {command!r} in one line of at most "
                               f"{MAX_BYTES} bytes")
    return text


def parse(text: str, origin: str) -> list[str]:
    """The command a file's text holds, or EngineStartError naming `origin` and what is wrong."""
    line = text.splitlines()[0] if text else ""
    try:
        command = shlex.split(line)
    except ValueError as e:
        raise EngineStartError(f"{origin}: {e}") from e
    if not command:
        raise EngineStartError(f"{origin}: the first line holds no command")
    return command


def find() -> Path | None:
    """The engine command file a client reads, if any."""
    named = os.environ.get("DCVSR_ENGINE_COMMAND_FILE")
    if named:
        return Path(named)
    for candidate in (user_file(), system_file()):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def read(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EngineStartError(f"cannot read the engine command file {path}: {e}") from e
    return parse(text, f"engine command file {path}")
