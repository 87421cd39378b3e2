"""Server layer: :class:`ProxyFix`, WSGI middleware that applies a forwarded-header rule.

The rule itself (whom to believe, what to rewrite) is :class:`micro.http.forwarded.
ForwardedRule`, shared with the App; this wrapper lets micro's server, or any other
WSGI server, apply it in front of any WSGI app. micro's server installs it when its
config sets ``proxy_hops`` or ``trusted_proxies``.
"""

from __future__ import annotations

from collections.abc import Iterable

from micro.http.forwarded import ForwardedRule
from micro.wsgitypes import Environ, StartResponse, WSGIApp

from .config import ServerConfig

__all__ = ["ProxyFix"]


class ProxyFix:
    """WSGI middleware: make the environ describe the client behind trusted proxies."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        hops: int = 0,
        trusted: Iterable[str] = (),
        headers: str = "x-forwarded",
    ) -> None:
        self.app = app
        self.rule = ForwardedRule(hops=hops, trusted=trusted, headers=headers)

    @classmethod
    def from_config(cls, app: WSGIApp, config: ServerConfig) -> ProxyFix | None:
        """The middleware the config asks for, or None when no proxy is trusted."""
        if not config.proxy_hops and not config.trusted_proxies:
            return None
        return cls(
            app,
            hops=config.proxy_hops,
            trusted=config.trusted_proxies,
            headers=config.proxy_headers,
        )

    def fix(self, environ: Environ) -> None:
        """Rewrite ``environ`` in place (see :meth:`ForwardedRule.fix`)."""
        self.rule.fix(environ)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        self.rule.fix(environ)
        return self.app(environ, start_response)
