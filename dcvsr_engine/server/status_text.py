"""`dcvsr status` for a person: the engine's STATUS_REPLY as a few lines (`--json` prints it raw)."""

from __future__ import annotations

from typing import Any

# The renderer's figures shown by name; any others follow as "name: value".
_NAMED = ("models", "devices", "models_loaded", "cache_dir", "cache_bytes", "gpu_memory_allocated")


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def mib(value: Any) -> str:
    return f"{value / 2**20:.1f} MiB" if isinstance(value, int) else "?"


def summary(info: dict[str, Any]) -> str:
    stats = info.get("stats") or {}
    lines = [f"engine running: pid {info['pid']}, dcvsr {info['version']}, up {duration(info['uptime'])}, "
             f"{info['connections']} connection(s), {info['sessions']} open session(s)",
             f"  renderer: {info['renderer']}",
             f"  models loaded: {stats.get('models') or 'none yet (the first session loads one)'}"]
    if "cache_bytes" in stats:
        lines.append(f"  render cache: {mib(stats['cache_bytes'])} in {stats.get('cache_dir') or '(off)'}")
    if "gpu_memory_allocated" in stats:
        lines.append(f"  GPU memory allocated: {mib(stats['gpu_memory_allocated'])}")
    lines.append(f"  runtime folder: {info['runtime_dir']}")
    others = {k: v for k, v in stats.items() if k not in _NAMED}
    if others:
        lines.append("  " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(others.items())))
    return "\n".join(lines)
