"""Run-finished hooks named by import path, for a process that may never push.

    name_run_finished_hook("seatsync.automation.hooks:run_finished")   # the console script, before any command

The console script cannot tell which command will end up finishing a run (``push``, ``approve``, ``worker``...),
and importing the automation up front (notifications, tickets, the mail and HTTP clients) would make every
command pay for it, ``seatsync billable`` included. So it only names the hook here; ``seatsync.push.engine``
imports and registers each named hook when it first finishes a run.

Light on purpose: imports nothing but ``threading``.
"""

from __future__ import annotations

import threading

__all__ = ["name_run_finished_hook", "take_named_hooks"]

_names: list[str] = []
_lock = threading.Lock()


def name_run_finished_hook(target: str) -> None:
    """Have ``target`` (``"module:function"``) called after every run this process finishes (idempotent)."""
    module, colon, function = target.partition(":")
    if not (module and colon and function):
        raise ValueError(f"a run-finished hook is named 'module:function', not {target!r}")
    with _lock:
        if target not in _names:
            _names.append(target)


def take_named_hooks() -> tuple[str, ...]:
    """The names given since the last call (the engine resolves them once)."""
    with _lock:
        taken = tuple(_names)
        _names.clear()
    return taken
