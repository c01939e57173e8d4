"""The HTTP server's composition root: the API with its web console.

:func:`exchange.api.app.create_app` builds the API and knows nothing of the console;
:mod:`exchange.web` builds on the API's dependencies (the console is guarded exactly
like the API). This module is the one place that joins the two, so the dependency runs
one way only: web → api, and this module → both.
"""

from __future__ import annotations

from fastapi import FastAPI

from exchange.api.app import create_app
from exchange.service import Exchange
from exchange.web import install_console

__all__ = ["build_app"]


def build_app(exchange: Exchange, *, fast_read: bool | None = None) -> FastAPI:
    """The API app with the web console under ``/console`` (what ``govex serve`` runs)."""
    return create_app(exchange, fast_read=fast_read, extensions=(install_console,))
