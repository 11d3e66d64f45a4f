"""The repository, issues and launch buttons, only when the book knows where its repository is.

A placeholder address would make every click on those buttons a 404. So the buttons come from a
build setting: ``BOOK_REPOSITORY_URL=https://github.com/OWNER/REPO make book`` (optionally
``BOOK_REPOSITORY_BRANCH``, default ``main``) adds the repository and issues buttons and the Binder
and Colab launch buttons; without it they are left out. The download button stays either way.

It also registers ``book_link_hosts`` (set in ``_config.yml``): the hosts outside the book that its
pages may link to. ``tools/browser_check.py`` fails on a link to any other host; :func:`allowed_hosts`
is the list it checks against (the configured hosts, plus the repository's and launch services' hosts
when the buttons are on).
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

LAUNCH = {"binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com"}


def repository_url() -> str:
    """The repository's address from ``BOOK_REPOSITORY_URL``, or ``""`` when it is not set."""
    url = os.environ.get("BOOK_REPOSITORY_URL", "").strip().rstrip("/")
    if url and not urlparse(url).scheme.startswith("http"):
        raise ValueError(f"BOOK_REPOSITORY_URL must be an http(s) address, got {url!r}")
    return url


def allowed_hosts(configured) -> set[str]:
    """The hosts the book may link to: ``configured`` plus the buttons' hosts when they are on."""
    hosts = set(configured)
    url = repository_url()
    if url:
        hosts.add(urlparse(url).hostname)
        hosts.update(urlparse(u).hostname for u in LAUNCH.values())
    return hosts


def _configure(app, config):
    options = dict(config.html_theme_options)
    url = repository_url()
    if url:
        options.update(repository_url=url, path_to_docs="",
                       repository_branch=os.environ.get("BOOK_REPOSITORY_BRANCH", "main"),
                       use_repository_button=True, use_issues_button=True,
                       launch_buttons={**options.get("launch_buttons", {}), **LAUNCH,
                                       "notebook_interface": "jupyterlab"})
    else:
        options.update(repository_url="", use_repository_button=False, use_issues_button=False,
                       use_edit_page_button=False,
                       launch_buttons={k: "" for k in ("binderhub_url", "jupyterhub_url", "colab_url",
                                                       "deepnote_url")} | {"thebe": False})
    config.html_theme_options = options


def setup(app):
    app.add_config_value("book_link_hosts", [], "html")
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
