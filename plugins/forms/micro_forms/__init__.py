"""micro-forms: the ``forms`` plugin, ``multipart/form-data`` bodies for micro.

Enabled with ``App(plugins=["forms"])``; the entry point ``forms`` in the
``micro.plugins`` group names :func:`plugin`. Its setup registers a
:class:`~micro_forms.multipart.MultipartParser` through the App's body-parser hook
(``app.add_body_parser("multipart/form-data", parser)``), so that
``request.files``, ``request.body_arguments`` and ``get_argument`` read HTML forms
sent with ``enctype="multipart/form-data"``, file uploads included.

micro itself depends on nothing but ``parse``; this distribution brings the
``multipart`` library. Its limits are the App's settings: ``max_upload_size`` (the
whole body), ``multipart_spool_size`` (upload bytes kept in memory, and each text
field), ``max_multipart_parts``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from micro import PluginApp
from micro_forms.multipart import MAX_HEADER_SIZE, MultipartParser

__all__ = ["MAX_HEADER_SIZE", "FormsPlugin", "MultipartParser", "plugin"]

MEDIA_TYPE = "multipart/form-data"


class FormsPlugin:
    """The ``forms`` plugin: a MultipartParser as the App's multipart/form-data parser."""

    name = "forms"
    api_version = 1
    before: Sequence[str] = ()
    after: Sequence[str] = ()
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = MappingProxyType({})

    def setup(self, app: PluginApp) -> None:
        app.add_body_parser(MEDIA_TYPE, MultipartParser())


def plugin() -> FormsPlugin:
    """The entry point's factory: a fresh plugin for each app."""
    return FormsPlugin()
