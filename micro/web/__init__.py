"""Framework layer: the App, Request, Response, RequestHandler and middleware.

Everything above the WSGI line: :mod:`micro.web.app` (the App and its three steps),
:mod:`micro.web.endpoint` (what a route carries), :mod:`micro.web.request`,
:mod:`micro.web.response`, :mod:`micro.web.handler` (run by :mod:`micro.web.runner`; the
response it builds in :mod:`micro.web.output`), :mod:`micro.web.middleware`, headers,
cookies, signing, form bodies and error pages.
This module only re-exports their public names; :mod:`micro` re-exports the most used
of them. Two types a handler meets are defined in the plugin layer, because the
plugins that provide them implement them there, and re-exported here for handler
authors: :class:`Session` (what ``request.session`` is) and :class:`UploadedFile`.
"""

from micro.plugins.api import Session
from micro.plugins.bodies import UploadedFile
from micro.web.app import DEFAULT_SETTINGS, App, PluginApp, URLSpec
from micro.web.auth import authenticated
from micro.web.cookies import InvalidCookie
from micro.web.flash import Flash
from micro.web.handler import HandlerError, RequestHandler
from micro.web.headers import InvalidHeader, RequestHeaders, ResponseHeaders, check_header
from micro.web.middleware import CallNext, Middleware, skip_middleware
from micro.web.request import Request
from micro.web.response import FileBody, Response, ready_response
from micro.web.signing import create_signed_value, decode_signed_value, normalize_secrets

__all__ = [
    "DEFAULT_SETTINGS",
    "App",
    "CallNext",
    "FileBody",
    "Flash",
    "HandlerError",
    "InvalidCookie",
    "InvalidHeader",
    "Middleware",
    "PluginApp",
    "Request",
    "RequestHandler",
    "RequestHeaders",
    "Response",
    "ResponseHeaders",
    "Session",
    "URLSpec",
    "UploadedFile",
    "authenticated",
    "check_header",
    "create_signed_value",
    "decode_signed_value",
    "normalize_secrets",
    "ready_response",
    "skip_middleware",
]
