"""Offline /docs and /redoc: Swagger UI, ReDoc and the favicon served from the pinned fastapi-offline package."""

import importlib.util
import logging
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

logger = logging.getLogger("app.docs")

ASSETS_PACKAGE = "fastapi-offline"
STATIC_URL = "/static/docs"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"
ASSETS = (SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON)
# The validator badge would call validator.swagger.io; persistAuthorization keeps the token across reloads.
SWAGGER_UI_PARAMETERS = {"persistAuthorization": True, "validatorUrl": None}
# Same-origin only: the browser refuses anything from another host (ReDoc's sidebar badge, a CDN, fonts).
DOCS_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    )
)


def assets_dir() -> Path | None:
    """The folder of bundled docs assets, or None if the package or a file is missing."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _same_origin(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


def _missing() -> JSONResponse:
    return JSONResponse(
        {"detail": f"API docs unavailable: their assets are not installed (pip install {ASSETS_PACKAGE})"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /docs/oauth2-redirect, /redoc, /favicon.ico and their assets under /static/docs, no CDN."""
    folder = assets_dir()
    if folder is None:
        logger.warning("%s not installed: /docs and /redoc answer 503", ASSETS_PACKAGE)
    else:
        app.mount(STATIC_URL, StaticFiles(directory=folder), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> Response:
        """Swagger UI, with the Authorize button for the password flow."""
        if folder is None:
            return _missing()
        root = _root(request)
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{STATIC_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{STATIC_URL}/{FAVICON}",
            oauth2_redirect_url=root + redirect_url,
            init_oauth={"appName": app.title, "scopeSeparator": " "},
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        return _same_origin(page)

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        """The page an OAuth2 redirect flow returns to."""
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> Response:
        """ReDoc, without Google Fonts."""
        if folder is None:
            return _missing()
        root = _root(request)
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{STATIC_URL}/{FAVICON}",
            with_google_fonts=False,
        )
        return _same_origin(page)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """The favicon browsers ask for on any page."""
        if folder is None:
            return JSONResponse({"detail": "Not Found"}, status_code=status.HTTP_404_NOT_FOUND)
        return FileResponse(folder / FAVICON, media_type="image/png")
