"""The engine as a per-user service: a systemd user unit, a launchd agent or a scheduled task.

Each runs the engine command (`python -m dcvsr_engine.server serve` with the installing Python) at
login and restarts it when it fails. Not socket-activated: the engine creates its private runtime
folder and token itself and holds engine.lock for its life (docs/protocol.md), which an inherited
socket would bypass; clients that find no engine start one on demand anyway.
"""

from __future__ import annotations

import os
import plistlib
import xml.etree.ElementTree as ET
from pathlib import PurePath

from .layout import LAUNCHD_LABEL, SERVICE_NAME, Layout
from .plan import Command, Plan

DESCRIPTION = "dcvsr engine (DC-VSR video super-resolution frame server)"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def systemd_unit(command: list[str]) -> str:
    # systemd splits ExecStart like a shell; quote each argument (paths may hold spaces).
    exec_start = " ".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in command)
    return (f"[Unit]\nDescription={DESCRIPTION}\n\n"
            f"[Service]\nType=simple\nExecStart={exec_start}\nRestart=on-failure\nRestartSec=5\n\n"
            "[Install]\nWantedBy=default.target\n")


def launchd_plist(command: list[str], log: PurePath) -> bytes:
    return plistlib.dumps({
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Interactive",
        "StandardOutPath": str(log),
        "StandardErrorPath": str(log),
    })


def windows_task(command: list[str]) -> bytes:
    """Task Scheduler XML (schtasks /Create /XML): at logon, restart on failure, no time limit."""
    ET.register_namespace("", TASK_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{TASK_NS}}}{tag}")
        element.text = text
        return element

    task = ET.Element(f"{{{TASK_NS}}}Task", version="1.2")
    sub(sub(task, "RegistrationInfo"), "Description", DESCRIPTION)
    sub(sub(sub(task, "Triggers"), "LogonTrigger"), "Enabled", "true")
    principal = sub(sub(task, "Principals"), "Principal", None)
    principal.set("id", "Author")
    sub(principal, "LogonType", "InteractiveToken")
    sub(principal, "RunLevel", "LeastPrivilege")
    settings = sub(task, "Settings")
    for tag, text in (("MultipleInstancesPolicy", "IgnoreNew"), ("DisallowStartIfOnBatteries", "false"),
                      ("StopIfGoingOnBatteries", "false"), ("ExecutionTimeLimit", "PT0S"),
                      ("Enabled", "true")):
        sub(settings, tag, text)
    restart = sub(settings, "RestartOnFailure")
    sub(restart, "Interval", "PT1M")
    sub(restart, "Count", "3")
    actions = sub(task, "Actions")
    actions.set("Context", "Author")
    exe = sub(actions, "Exec")
    sub(exe, "Command", command[0])
    sub(exe, "Arguments", " ".join(f'"{a}"' if " " in a else a for a in command[1:]))
    ET.indent(task)
    return ET.tostring(task, encoding="UTF-16", xml_declaration=True)


def add(plan: Plan, command: list[str]) -> None:
    layout: Layout = plan.layout
    target = layout.service_file()
    serve = [*command, "serve"]
    if layout.platform == "linux":
        plan.add_file(target, systemd_unit(serve).encode())
        scope = ["--user"] if layout.scope == "user" else ["--global"]
        now = ["--now"] if layout.scope == "user" else []  # enable reloads systemd's configuration
        plan.commands.append(Command(
            f"systemd unit {SERVICE_NAME}.service enabled",
            ["systemctl", *scope, "enable", *now, f"{SERVICE_NAME}.service"],
            ["systemctl", *scope, "disable", *now, f"{SERVICE_NAME}.service"]))
    elif layout.platform == "darwin":
        plan.add_file(target, launchd_plist(serve, layout.log_dir() / "engine.log"))
        domain = f"gui/{os.getuid()}" if hasattr(os, "getuid") else "gui/501"
        plan.commands.append(Command(f"launchd agent {LAUNCHD_LABEL} loaded",
                                     ["launchctl", "bootstrap", domain, str(target)],
                                     ["launchctl", "bootout", f"{domain}/{LAUNCHD_LABEL}"]))
    else:
        plan.add_file(target, windows_task(serve))
        plan.commands.append(Command(f"scheduled task {SERVICE_NAME} registered",
                                     ["schtasks", "/Create", "/TN", SERVICE_NAME, "/XML", str(target), "/F"],
                                     ["schtasks", "/Delete", "/TN", SERVICE_NAME, "/F"]))
    plan.notes.append(f"service: {target} (the engine runs at login)")
