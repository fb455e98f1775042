"""The FastAPI app: ``create_app(settings)``; ``nurture serve`` runs it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

import nurture
from nurture.capture.routes import CAPTURES, CONFIRMATION_EVENTS
from nurture.capture.routes import router as capture_router
from nurture.checks import config_checks
from nurture.crm.deals import router as deals_router
from nurture.crm.routes import router as crm_router
from nurture.db import dispose_engines
from nurture.handoff.routes import router as handoff_router
from nurture.loyalty.routes import router as loyalty_router
from nurture.mailevents.routes import router as mailevents_router
from nurture.preview.routes import router as preview_router
from nurture.rights.routes import router as rights_router
from nurture.settings import Settings, get_settings
from nurture.tracking.routes import HITS
from nurture.tracking.routes import router as tracking_router
from nurture.web.state import AppState
from nurture.website.routes import TRACK
from nurture.website.routes import router as website_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await dispose_engines()

    app = FastAPI(
        title="nurture",
        version=nurture.__version__,
        lifespan=lifespan,
        description="Landing pages, form capture and email links of nurture.",
    )
    # The composition root: the features' routes and the writers they share transactions in.
    # The passes' checks: the app serves the config they apply, or the last one they would.
    app.state.nurture = AppState.from_settings(
        settings, (CAPTURES, CONFIRMATION_EVENTS, HITS, TRACK), config_checks
    )
    app.include_router(capture_router)
    app.include_router(tracking_router)
    app.include_router(handoff_router)
    app.include_router(crm_router)
    app.include_router(deals_router)
    app.include_router(mailevents_router)
    app.include_router(website_router)
    app.include_router(rights_router)
    app.include_router(loyalty_router)
    app.include_router(preview_router)

    @app.get("/healthz", summary="Liveness check")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def index(request: Request) -> HTMLResponse:
        state = get_state_from(request.app)
        forms = list(state.project().forms.values())
        return state.pages.render(
            "index.html.j2", locale=state.browser_locale(request), forms=forms
        )

    def openapi() -> dict[str, Any]:
        # The form ids come from config: list them, so clients (and schema tests) see them.
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            forms = sorted(get_state_from(app).project().forms)
            for path in schema["paths"].values():
                for operation in path.values():
                    for param in operation.get("parameters", []):
                        if param["name"] == "form_id" and forms:
                            param["schema"]["enum"] = forms
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def get_state_from(app: FastAPI) -> AppState:
    return app.state.nurture  # type: ignore[no-any-return]
