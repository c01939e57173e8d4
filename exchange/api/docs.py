"""``/docs``: Swagger UI served entirely by the exchange (the 政务外网 is normally offline).

FastAPI's own ``/docs`` page loads Swagger UI from a CDN and stays blank without the
internet. Here the page, its script, style sheet and icon all come from the exchange: the
Swagger UI distribution (5.x, which reads OpenAPI 3.1) shipped inside the
``fastapi-swagger`` package. ``/redoc`` points at ``/docs``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources

from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse

__all__ = ["ASSETS", "install_docs"]

# served path → (file in the package, media type)
ASSETS: dict[str, tuple[str, str]] = {
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "/docs/favicon.png": ("favicon-32x32.png", "image/png"),
}
_PACKAGE = "fastapi_swagger.resources"


@cache
def _asset(name: str) -> bytes:
    return resources.files(_PACKAGE).joinpath(name).read_bytes()


def install_docs(app: FastAPI, *, title: str) -> None:
    """``/docs``, its three files and ``/redoc`` (create the app with ``docs_url=None``,
    ``redoc_url=None``)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title} — API",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> RedirectResponse:
        return RedirectResponse("/docs")

    for path, (name, media_type) in ASSETS.items():
        app.add_api_route(path, _asset_route(name, media_type), include_in_schema=False)


def _asset_route(name: str, media_type: str) -> Callable[[], Awaitable[Response]]:
    async def asset() -> Response:
        return Response(
            _asset(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    return asset
