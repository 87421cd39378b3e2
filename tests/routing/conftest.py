"""Helpers the routing tests share: a router of GET routes, the target a path hits, and a
deterministic measure of the work one call does."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from micro.routing import Router


def router_with(*patterns: str, **options: Any) -> Router:
    """A router with each pattern as a GET route whose target is the pattern itself."""
    router = Router(**options)
    for pattern in patterns:
        router.add(pattern, pattern, methods=["GET"])
    return router


def target(router: Router, path: str, method: str = "GET", host: str = "") -> Any:
    return router.match(path, method, host).route.target


def work_done(fn: Callable[[], object]) -> int:
    """Bytecodes run plus C functions called by ``fn``: a deterministic measure of work.

    Garbage collection is paused while counting: a collection that happens to run in
    the middle would run callbacks (Hypothesis installs one in ``gc.callbacks``) whose
    bytecodes would be counted as ``fn``'s.
    """
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        frame.f_trace_opcodes = True
        count += 1
        return trace

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        if event == "c_call":
            count += 1

    # Coverage or a debugger may have their own hooks installed: put them back after.
    old_trace, old_profile = sys.gettrace(), sys.getprofile()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    sys.settrace(trace)
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(old_profile)
        sys.settrace(old_trace)
        if gc_was_enabled:
            gc.enable()
    return count
