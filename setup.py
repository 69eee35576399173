"""Build hook: compile the OpenFX bundle (ofx_bridge/, C11) into the package.

pyproject.toml holds the project's description; this file only adds the OpenFX plugin, built with
setuptools' own compiler support (so building from source needs only a C compiler), laid out as
installers/dcvsr_install/payload/DCVSR.ofx.bundle/Contents/{Info.plist,Resources/,<arch>/DCVSR.ofx},
and tags the wheel for the platform only (py3-none-<platform>: the bundle does not use Python's ABI).
A checkout without ofx_bridge/ builds a pure wheel without a bundle.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, LinkError

ROOT = Path(__file__).parent
BRIDGE = ROOT / "ofx_bridge"
SOURCE_DIRS = ("client", "effect")  # the C client for the protocol, and the OpenFX effect
SETTINGS = ROOT / "client" / "dcvsr_protocol" / "settings.py"
PAYLOAD = "installers/dcvsr_install/payload/DCVSR.ofx.bundle"
EXPORTS = ["OfxGetNumberOfPlugins", "OfxGetPlugin", "OfxSetHost"]


def bundle_arch() -> str:
    if sys.platform == "win32":
        return "Win64"
    if sys.platform == "darwin":
        return "MacOS"
    machine = sysconfig.get_platform().rsplit("-", 1)[-1]
    return {"x86_64": "Linux-x86-64", "aarch64": "Linux-arm64"}.get(machine, f"Linux-{machine}")


def bridge_sources() -> list[str]:
    """The C client, then the effect; none until the effect exists (the client alone is no plug-in)."""
    effect = sorted((BRIDGE / "effect").glob("*.c"))
    if not effect:
        return []
    client = sorted((BRIDGE / "client").glob("*.c"))
    return [os.path.relpath(p, ROOT) for p in (*client, *effect)]


class OfxBundle(build_ext):
    """build_ext for one extension that is an OpenFX plugin, not a Python module."""

    def get_ext_filename(self, fullname: str) -> str:
        return os.path.join("dcvsr_install", "payload", "DCVSR.ofx.bundle", "Contents", bundle_arch(),
                            "DCVSR.ofx")

    def get_ext_fullpath(self, ext_name: str) -> str:
        return os.path.join(self.build_lib, self.get_ext_filename(ext_name))

    def _get_inplace_equivalent(self, build_py, ext: Extension) -> tuple[str, str]:
        # Editable installs: the bundle goes into the source tree (ignored by git), laid out as a bundle.
        return str(ROOT / PAYLOAD / "Contents" / bundle_arch() / "DCVSR.ofx"), self.get_ext_fullpath(ext.name)

    def copy_extensions_to_source(self) -> None:
        built = Path(self.build_lib) / Path(PAYLOAD).relative_to("installers")
        shutil.rmtree(ROOT / PAYLOAD, ignore_errors=True)
        shutil.copytree(built, ROOT / PAYLOAD)

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return EXPORTS  # not PyInit_*: MSVC's linker exports these

    def build_extension(self, ext: Extension) -> None:
        # The effect's parameters are compiled in from the one settings description (Describe runs
        # with no engine to ask): generate that header first, as ofx_bridge/Makefile does.
        generated = Path(self.build_temp) / "ofx_generated"
        generated.mkdir(parents=True, exist_ok=True)
        header = subprocess.run([sys.executable, str(BRIDGE / "tools" / "gen_settings_header.py"),
                                 str(SETTINGS)], capture_output=True, text=True, check=False)
        if header.returncode != 0:
            raise SystemExit(f"generating the OpenFX settings header failed:\n{header.stderr}")
        (generated / "dcvsr_settings.h").write_text(header.stdout)
        ext.include_dirs.append(str(generated))
        try:
            super().build_extension(ext)
        except (CCompilerError, CompileError, LinkError) as e:
            raise SystemExit(f"building dcvsr's OpenFX plugin (ofx_bridge/) failed: {e}. It needs a C11 "
                             "compiler: gcc or clang (apt-get install gcc), or MSVC on Windows") from e
        contents = Path(self.get_ext_fullpath(ext.name)).parent.parent
        self._resources(contents)

    def _resources(self, contents: Path) -> None:
        resources = BRIDGE / "resources"
        (contents / "Resources").mkdir(parents=True, exist_ok=True)
        for path in sorted(resources.glob("*")) if resources.is_dir() else []:
            if path.is_file():
                shutil.copyfile(path, contents / ("Info.plist" if path.name == "Info.plist" else
                                                  os.path.join("Resources", path.name)))
        if not (contents / "Info.plist").is_file():
            (contents / "Info.plist").write_bytes(plistlib.dumps({
                "CFBundleDevelopmentRegion": "English", "CFBundleExecutable": "DCVSR.ofx",
                "CFBundleIdentifier": "org.dcvsr.ofx", "CFBundleInfoDictionaryVersion": "6.0",
                "CFBundleName": "DCVSR", "CFBundlePackageType": "BNDL", "CFBundleVersion": "0.1.0"}))


class PlatformWheel(bdist_wheel):
    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


def extensions() -> list[Extension]:
    sources = bridge_sources()
    if not sources:
        return []
    posix = sys.platform != "win32"
    return [Extension(
        "dcvsr_install.payload.DCVSR", sources=sources,
        include_dirs=[str(BRIDGE / d) for d in ("openfx", *SOURCE_DIRS)],
        define_macros=[("_POSIX_C_SOURCE", "200809L"), ("_DEFAULT_SOURCE", None)] if posix else [],
        # Hidden by default: the plug-in exports only what its OFX_EXPORT marks.
        extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden"] if posix else ["/O2"],
        libraries=(["pthread", "m"] + (["rt"] if sys.platform.startswith("linux") else [])) if posix
        else ["ws2_32"])]


setup(ext_modules=extensions(), cmdclass={"build_ext": OfxBundle, "bdist_wheel": PlatformWheel})
