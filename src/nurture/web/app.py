"""The FastAPI app: ``create_app(settings)``; ``nurture serve`` runs it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

import nurture
from nurture.capture.routes import router as capture_router
from nurture.db import dispose_engines
from nurture.settings import Settings, get_settings
from nurture.tracking.routes import router as tracking_router
from nurture.web.state import AppState, get_state


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
    app.state.nurture = AppState.from_settings(settings)
    app.include_router(capture_router)
    app.include_router(tracking_router)

    @app.get("/healthz", summary="Liveness check")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def index(request: Request) -> HTMLResponse:
        state = get_state(request)
        return state.pages.render("index.html.j2", forms=list(state.project().forms.values()))

    return app
