"""Framework layer: request bodies as forms, by media type.

``application/x-www-form-urlencoded`` is parsed here (standard library); every other
media type goes to the :class:`~micro.plugins.bodies.BodyParser` a plugin registered
with ``app.add_body_parser``. ``multipart/form-data`` needs one: micro itself depends
on nothing but ``parse``, and the well-kept parser (the ``multipart`` library) is in
the ``forms`` plugin (distribution ``micro-forms``). Without it, reading the form of a
multipart body raises :class:`~micro.errors.ConfigError` naming both, rather than
answering as if the form were empty. Other bodies (text, XML, JSON, which has
``request.json``) are no form: no fields, no files.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from micro.errors import ConfigError, HTTPError
from micro.plugins.bodies import Form
from micro.plugins.registry import FIRST_PARTY

__all__ = [
    "BUILT_IN",
    "URLENCODED",
    "check_media_type",
    "no_parser",
    "parse_options_header",
    "parse_urlencoded",
]

URLENCODED = "application/x-www-form-urlencoded"
BUILT_IN = frozenset({URLENCODED, "application/json"})
"""Media types micro parses itself; ``add_body_parser`` refuses them."""

# The plugin that parses a media type a user is likely to meet.
_PLUGIN_FOR = {"multipart/form-data": "forms"}

_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:\\"|[^"])*"|[^;]*)')
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+")


def parse_options_header(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"'`` -> ``("form-data", {"name": "a"})`` (keys lower-cased)."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            # Only \" is unescaped: browsers send Windows paths with bare backslashes.
            raw = raw[1:-1].replace('\\"', '"')
        params[key] = raw
    return main.strip().lower(), params


def parse_urlencoded(body: bytes) -> Form:
    """An ``application/x-www-form-urlencoded`` body: fields, never files; 400 if not UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError(400, "Form body is not UTF-8") from None
    return Form(parse_qs(text, keep_blank_values=True), {})


def check_media_type(media_type: str) -> str:
    """``media_type`` lower-cased, for ``add_body_parser``; ConfigError when it is not one."""
    normalized = media_type.strip().lower()
    if not _MEDIA_TYPE.fullmatch(normalized):
        raise ConfigError(
            f"add_body_parser: {media_type!r} is not a media type"
            " (type/subtype, without parameters, e.g. 'multipart/form-data')"
        )
    if normalized in BUILT_IN:
        raise ConfigError(f"add_body_parser: {normalized} bodies are parsed by micro itself")
    return normalized


def no_parser(media_type: str) -> ConfigError | None:
    """The error for a ``media_type`` body without a parser, when a plugin is known for it."""
    plugin = _PLUGIN_FOR.get(media_type)
    if plugin is None:
        return None
    distribution = FIRST_PARTY[plugin]
    return ConfigError(
        f"a {media_type} request body needs a parser and this app has none: enable the"
        f" {plugin!r} plugin (App(plugins=[{plugin!r}])) from the {distribution} distribution"
        f" (pip install {distribution}), or register one with app.add_body_parser()"
    )
