"""The registered billing targets: the one place that lists them.

    target = get_target("gradient")
    for target in all_targets(): ...
    register(MyTarget())          # a test's fake target, or a new package's one line below

Adding a target is its package under ``seatsync.targets`` and one line in ``_builtin`` (imports are deferred so
that importing the registry stays cheap and free of cycles).
"""

from __future__ import annotations

import threading

from seatsync.errors import NotFound
from seatsync.targets.base import BillingTarget

_lock = threading.Lock()
_targets: dict[str, BillingTarget] = {}
_loaded = False


def _builtin() -> list[BillingTarget]:
    from seatsync.targets.autotask import TARGET as AUTOTASK
    from seatsync.targets.connectwise import TARGET as CONNECTWISE
    from seatsync.targets.gradient import TARGET as GRADIENT
    from seatsync.targets.halopsa import TARGET as HALOPSA

    return [CONNECTWISE, GRADIENT, HALOPSA, AUTOTASK]


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if not _loaded:
            for target in _builtin():
                _targets.setdefault(target.key, target)
            _loaded = True


def register(target: BillingTarget) -> BillingTarget:
    """Add (or replace) the target under its key; returns it."""
    if not isinstance(target, BillingTarget):
        raise TypeError(f"{target!r} does not implement seatsync.targets.BillingTarget")
    _ensure_loaded()
    with _lock:
        _targets[target.key] = target
    return target


def unregister(key: str) -> None:
    """Remove a target (tests that registered a fake one)."""
    _ensure_loaded()
    with _lock:
        _targets.pop(key, None)


def get_target(key: str) -> BillingTarget:
    _ensure_loaded()
    found = _targets.get(str(key))
    if found is None:
        known = ", ".join(sorted(_targets))
        raise NotFound(f"no billing target {key!r} (known: {known})")
    return found


def all_targets() -> list[BillingTarget]:
    """Every registered target, in registration order."""
    _ensure_loaded()
    with _lock:
        return list(_targets.values())


def target_keys() -> list[str]:
    return [t.key for t in all_targets()]


__all__ = ["all_targets", "get_target", "register", "target_keys", "unregister"]
