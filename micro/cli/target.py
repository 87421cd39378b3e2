"""Command-line layer: load the app a TARGET names (``module:attr`` or ``file.py[:attr]``).

The one loader behind ``micro serve``, ``micro routes``, ``micro plugins APP`` and the
``micro_app`` ini option of the pytest plugin. A TARGET that cannot be loaded raises
:class:`~micro.errors.ConfigError` naming what went wrong, never a bare ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

from micro.errors import ConfigError
from micro.wsgitypes import WSGIApp

__all__ = ["app_location", "load_app"]


def app_location(target: str) -> tuple[str, str]:
    """Where TARGET's app is: (module or file, attribute path; ``app`` by default)."""
    if target.endswith(".py"):
        return target, "app"
    where, sep, attr = target.rpartition(":")
    if not sep:
        return target, "app"
    if not where or not attr:
        raise ConfigError(f"invalid target {target!r}: expected module:attr or file.py[:attr]")
    return where, attr


def _import_file(path: str) -> Any:
    if not os.path.isfile(path):
        raise ConfigError(f"cannot load {path!r}: no such file")
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)  # so the file can import its neighbours
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {path!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_app(target: str) -> WSGIApp:
    """Import TARGET (``module:attr`` or ``file.py[:attr]``) and return the WSGI callable."""
    where, attr = app_location(target)
    try:
        if where.endswith(".py"):
            module = _import_file(where)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except ConfigError:
        raise
    except ImportError as exc:
        raise ConfigError(f"cannot import {where!r}: {exc}") from exc
    except Exception as exc:
        raise ConfigError(f"importing {where!r} failed: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{where!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ConfigError(f"{where}:{attr} is not a WSGI callable (got {type(obj).__name__})")
    return obj  # type: ignore[no-any-return]
