"""A small blog: micro and its plugins working together in a browser-facing app.

- ``templates``: Jinja2 pages on one base layout (``templates/``).
- ``sessions``: server-side sessions in SQLite, for login and flash messages.
- ``xsrf``: every form carries ``xsrf_form_html()``; the delete buttons
  (static/site.js) send the token in an ``X-XSRFToken`` header read from a meta tag.
- ``static``: CSS, JS and the favicon are linked through ``static_url()``, so their
  URLs carry a content hash and are cached for a year.
- ``gzip``: pages, CSS and JS go out compressed to browsers that accept it.

Posts and users live in ``blog.db`` in the instance folder (the
``blog_instance_path`` setting; ``$MICRO_BLOG_INSTANCE``, else ``instance/`` here),
made on first run, with the sessions and the cookie secret beside them. A user
comes from ``$MICRO_BLOG_USER`` and ``$MICRO_BLOG_PASSWORD`` at start-up, or from
``python -m micro blog-user NAME``.

Run it: ``python -m micro serve examples/blog/app.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from micro_blog import default_instance
from micro_blog.store import BlogStore, instance_secret

from micro import App, HTTPError, Request, RequestHandler, Response, authenticated

HERE = Path(__file__).resolve().parent


class BlogHandler(RequestHandler):
    def initialize(self, store: BlogStore) -> None:
        self.store = store


class Home(BlogHandler):
    def get(self) -> None:
        self.render("home.html", posts=self.store.posts())


class Posts(BlogHandler):
    @authenticated
    def post(self) -> None:
        title = self.get_argument("title", "").strip()
        body = self.get_argument("body", "").strip()
        if not title or not body:
            raise HTTPError(400, "A post needs a title and a text")
        self.store.add_post(title[:200], body, str(self.current_user))
        self.request.flash(f"Published “{title[:200]}”.", "success")
        self.redirect(self.reverse_url("home"), status=303)


class OnePost(BlogHandler):
    @authenticated
    def delete(self, post_id: str) -> None:
        if not self.store.delete_post(int(post_id)):
            raise HTTPError(404, "No such post")
        self.set_status(204)


class Login(BlogHandler):
    def get(self) -> None:
        self.render("login.html", next=self.get_argument("next", "/"), name="")

    def post(self) -> None:
        name = self.get_argument("name", "").strip()
        password = self.get_argument("password", "")
        target = self.get_argument("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # only our own pages: no open redirect
        if not self.store.check_user(name, password):
            self.set_status(403)
            self.request.flash("Wrong name or password.", "error")
            self.render("login.html", next=target, name=name)
            return
        session = self.request.session
        session.regenerate()  # a new session id at login: no session fixation
        session["user"] = name
        self.request.flash(f"Welcome, {name}.", "success")
        self.redirect(target, status=303)


class Logout(BlogHandler):
    def post(self) -> None:
        self.request.session.clear()
        self.request.flash("Logged out.", "info")
        self.redirect(self.reverse_url("home"), status=303)


def make_app(**settings: Any) -> App:
    """The blog app; ``settings`` override the defaults (tests pass an instance folder)."""
    instance = Path(settings.pop("blog_instance_path", None) or default_instance())
    store = BlogStore(instance)
    user, password = os.environ.get("MICRO_BLOG_USER"), os.environ.get("MICRO_BLOG_PASSWORD")
    if user and password:
        store.set_user(user, password)
    app = App(
        plugins=["sessions", "xsrf", "static", "gzip", "templates"],
        settings={
            "cookie_secret": os.environ.get("MICRO_BLOG_SECRET") or instance_secret(instance),
            "session_store": f"sqlite://{instance / 'sessions.db'}",
            "template_path": str(HERE / "templates"),
            "static_path": str(HERE / "static"),
            "gzip_min_length": 256,
            "login_url": "/login",
            "blog_instance_path": str(instance),
            **settings,
        },
    )

    @app.user_loader
    def current_user(request: Request) -> str | None:
        user = request.session.get("user")
        return user if isinstance(user, str) else None

    @app.route("/favicon.ico")
    def favicon(request: Request) -> Response:
        return Response.redirect(request.helpers.static_url("favicon.svg"), 301)

    kwargs = {"store": store}
    app.add_route("/", Home, name="home", kwargs=kwargs)
    app.add_route("/posts", Posts, name="posts", kwargs=kwargs)
    app.add_route(r"/posts/(\d+)", OnePost, name="post", kwargs=kwargs)
    app.add_route("/login", Login, name="login", kwargs=kwargs)
    app.add_route("/logout", Logout, name="logout", kwargs=kwargs)
    return app


app = make_app()
