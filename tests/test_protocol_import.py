"""The client package stays light: no torch; the server package needs no model."""

from __future__ import annotations

import subprocess
import sys

from tests.engine_process import child_env


def _modules(imports: str, directory) -> list[str]:
    code = f"import sys, {imports}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], env=child_env(directory), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_client_imports_no_torch(tmp_path):
    modules = _modules("dcvsr_client, dcvsr_protocol, dcvsr_client.session", tmp_path)
    assert "dcvsr_client.session" in modules
    assert [m for m in modules if m.split(".")[0] in ("torch", "dcvsr_engine", "diffusers")] == []


def test_server_imports_no_model(tmp_path):
    modules = _modules("dcvsr_engine.server", tmp_path)
    assert "dcvsr_engine.server.engine" in modules
    heavy = ("torch", "diffusers", "transformers")
    assert [m for m in modules if m.split(".")[0] in heavy
            or m.startswith(("dcvsr_engine.model", "dcvsr_engine.sampler"))] == []
