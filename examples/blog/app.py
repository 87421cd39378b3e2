"""A small blog: micro's first-party plugins working together in a browser-facing app.

- ``xsrf``: the new-post form carries ``xsrf_form_html()``; the delete buttons
  (static/site.js) send the token in an ``X-XSRFToken`` header read from a meta tag.
- ``static``: the stylesheet and the script are linked through ``static_url()``,
  so their URLs carry a content hash and are cached for a year.
- ``gzip``: pages, CSS and JS go out compressed to browsers that accept it.

Run it: ``python -m micro serve examples/blog/app.py`` (set MICRO_BLOG_SECRET to
keep sessions across restarts). Posts live in memory, per app.
"""

from __future__ import annotations

import html
import os
import secrets
from pathlib import Path
from typing import Any, NamedTuple

from micro import App, HTTPError, RequestHandler

HERE = Path(__file__).resolve().parent


class Post(NamedTuple):
    id: int
    title: str
    body: str


class Blog:
    """The posts of one app (in memory)."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self._next_id = 1

    def add(self, title: str, body: str) -> Post:
        post = Post(self._next_id, title, body)
        self._next_id += 1
        self.posts.append(post)
        return post

    def delete(self, post_id: int) -> None:
        before = len(self.posts)
        self.posts = [p for p in self.posts if p.id != post_id]
        if len(self.posts) == before:
            raise HTTPError(404, "No such post")


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="xsrf-token" content="{token}">
<title>micro blog</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<header><h1>micro blog</h1><p>A tiny blog served by micro and its plugins.</p></header>
<main>
{posts}
<form id="new-post" method="post" action="/posts">
{xsrf}
<label for="title">Title</label>
<input id="title" name="title" required maxlength="200">
<label for="body">Text</label>
<textarea id="body" name="body" required></textarea>
<button type="submit">Publish</button>
</form>
</main>
<script src="{js}" defer></script>
</body>
</html>
"""

POST = """<article id="post-{id}">
<h2>{title}</h2>
<p>{body}</p>
<button type="button" data-delete="/posts/{id}">Delete</button>
</article>"""


class BlogHandler(RequestHandler):
    def initialize(self, blog: Blog) -> None:
        self.blog = blog


class Home(BlogHandler):
    def get(self) -> None:
        posts = "\n".join(
            POST.format(id=p.id, title=html.escape(p.title), body=html.escape(p.body))
            for p in reversed(self.blog.posts)
        )
        self.write(
            PAGE.format(
                token=self.helpers.xsrf_token,
                css=self.helpers.static_url("site.css"),
                js=self.helpers.static_url("site.js"),
                posts=posts or '<p class="empty">Nothing written yet.</p>',
                xsrf=self.helpers.xsrf_form_html(),
            )
        )


class Posts(BlogHandler):
    def post(self) -> None:
        title = self.get_argument("title", "").strip()
        body = self.get_argument("body", "").strip()
        if not title or not body:
            raise HTTPError(400, "A post needs a title and a text")
        self.blog.add(title[:200], body)
        self.redirect("/", status=303)


class OnePost(BlogHandler):
    def delete(self, post_id: str) -> None:
        self.blog.delete(int(post_id))
        self.set_status(204)


def make_app(**settings: Any) -> App:
    """The blog app; ``settings`` override the defaults (tests pass a fixed secret)."""
    blog = Blog()
    app = App(
        plugins=["xsrf", "static", "gzip"],
        settings={
            "cookie_secret": os.environ.get("MICRO_BLOG_SECRET") or secrets.token_hex(32),
            "static_path": str(HERE / "static"),
            "gzip_min_length": 256,
            **settings,
        },
    )
    app.add_route("/", Home, name="home", kwargs={"blog": blog})
    app.add_route("/posts", Posts, name="posts", kwargs={"blog": blog})
    app.add_route(r"/posts/(\d+)", OnePost, name="post", kwargs={"blog": blog})
    return app


app = make_app()
