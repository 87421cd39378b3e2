"""The blog example's package: its storage (:mod:`micro_blog.store`) and the ``blog`` plugin.

The plugin adds one command to ``micro``, for whoever installed this distribution::

    MICRO_BLOG_PASSWORD=... python -m micro blog-user ann [--instance PATH]

which creates the user ``ann`` (or sets their password) in the blog's instance
folder; without ``MICRO_BLOG_PASSWORD`` it asks for the password twice. The app
itself (``examples/blog/app.py``) needs no plugin of its own: enabling ``blog``
would only add the ``blog_instance_path`` default.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from micro.web import PluginApp
from micro_blog.store import BlogStore

__all__ = ["BlogPlugin", "default_instance"]


def default_instance() -> Path:
    """``$MICRO_BLOG_INSTANCE``, else ``instance/`` beside the app."""
    return Path(os.environ.get("MICRO_BLOG_INSTANCE") or Path(__file__).parent.parent / "instance")


class BlogPlugin:
    """The ``blog`` plugin: the ``blog-user`` command (and a settings default)."""

    name = "blog"
    api_version = 1
    before: Sequence[str] = ()
    after: Sequence[str] = ()
    requires: Sequence[str] = ()

    @property
    def settings(self) -> Mapping[str, Any]:
        return {"blog_instance_path": str(default_instance())}

    def setup(self, app: PluginApp) -> None:
        """Nothing to add to an app: the blog's routes are its own (app.py)."""

    def cli_commands(self) -> Mapping[str, Callable[[list[str]], int]]:
        return {"blog-user": blog_user}


def blog_user(argv: list[str]) -> int:
    """``micro blog-user NAME [--instance PATH]``: create a user or set their password."""
    parser = argparse.ArgumentParser(prog="micro blog-user", description=blog_user.__doc__)
    parser.add_argument("name", help="the user's name")
    parser.add_argument(
        "--instance", default=None, help="the blog's instance folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    instance = Path(args.instance) if args.instance else default_instance()
    password = os.environ.get("MICRO_BLOG_PASSWORD")
    if not password:
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("micro blog-user: error: the passwords differ", file=sys.stderr)
            return 2
    if not password:
        print("micro blog-user: error: an empty password", file=sys.stderr)
        return 2
    store = BlogStore(instance)
    store.set_user(args.name, password)
    print(f"user {args.name!r} saved in {store.path}")
    return 0
