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
import traceback
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
    if os.path.isdir(path):
        raise ConfigError(f"cannot load {path!r}: it is a directory; name a .py file in it")
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


def _not_a_module(where: str) -> str | None:
    """Why ``where`` (no ``.py``, no ``:``) cannot be a module name, if it is a path."""
    if os.path.isdir(where) and not os.path.isfile(os.path.join(where, "__init__.py")):
        return f"cannot load {where!r}: it is a directory; name a .py file in it"
    if os.path.isfile(where):
        return f"cannot load {where!r}: not a Python file (expected file.py or module:attr)"
    if os.sep in where or (os.altsep and os.altsep in where):
        return f"cannot load {where!r}: no such file (expected file.py or module:attr)"
    return None


def _failure(exc: BaseException, full: bool) -> str:
    """``Type: message`` on the first line, then the traceback (see _user_frames)."""
    return f"{type(exc).__name__}: {exc}\n{_user_frames(exc, full)}"


def _user_frames(exc: BaseException, full: bool) -> str:
    """The traceback of an exception raised while importing the app, ready to print.

    ``full``: every frame. Otherwise only the frames of the app's own code (the import
    machinery and micro's loader left out), which is where the mistake is.
    """
    lines: list[str]
    if full:
        lines = traceback.format_exception(exc)
        return "".join(lines).rstrip("\n")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # micro/
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(("<frozen ", here + os.sep))
    ]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(exc)  # a SyntaxError shows its file and line
    return "".join(lines).rstrip("\n")


def load_app(target: str, *, full_traceback: bool = False) -> WSGIApp:
    """Import TARGET and return the WSGI callable.

    TARGET is ``module:attr`` or ``file.py[:attr]``; an attr ending in ``()`` names a
    factory, called with no arguments for a new app on every load
    (``shop:make_app()``). An exception raised while importing becomes a
    ConfigError whose message carries the traceback of the app's own frames (every
    frame with ``full_traceback``), so the file and line of the mistake are shown.
    """
    where, attr = app_location(target)
    factory = attr.endswith("()")
    attr = attr.removesuffix("()")
    if not where.endswith(".py"):
        problem = _not_a_module(where)
        if problem is not None:
            raise ConfigError(problem)
    try:
        if where.endswith(".py"):
            module = _import_file(where)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except ConfigError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name is not None and where.split(".")[0] == exc.name.split(".")[0]:
            raise ConfigError(f"cannot import {where!r}: {exc}") from exc  # TARGET itself
        raise ConfigError(f"importing {where!r} failed: {_failure(exc, full_traceback)}") from exc
    except Exception as exc:
        raise ConfigError(f"importing {where!r} failed: {_failure(exc, full_traceback)}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{where!r} has no attribute {attr!r}") from None
    if factory:
        if not callable(obj):
            raise ConfigError(f"{where}:{attr} is not a factory (got {type(obj).__name__})")
        try:
            obj = obj()
        except Exception as exc:
            raise ConfigError(f"{where}:{attr}() failed: {_failure(exc, full_traceback)}") from exc
    if not callable(obj):
        raise ConfigError(f"{where}:{attr} is not a WSGI callable (got {type(obj).__name__})")
    return obj  # type: ignore[no-any-return]
