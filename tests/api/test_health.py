"""Health, readiness, the OpenAPI document and unknown routes."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from api.app import create_app
from shared.db import create_pool
from shared.settings import Settings


async def test_healthz_answers_while_the_process_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_with_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200


async def test_readyz_is_503_without_the_database(settings: Settings) -> None:
    pool = create_pool("postgresql://postgres@127.0.0.1:1/nothing", size=1, name="down")
    await pool.open(wait=False)
    try:
        app: Starlette = create_app(settings, pool=pool)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    finally:
        await pool.close()
    assert response.status_code == 503
    assert response.json()["error"].startswith("database unreachable")


# Served, not described: the page and its files, and the document itself.
UNDOCUMENTED = {"/", "/docs", "/static/{path}", "/openapi.json"}


async def test_openapi_describes_every_route_the_app_serves_and_no_other(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    served: dict[str, set[str]] = {}
    for route in app.routes:
        assert isinstance(route, Route)
        path = route.path.replace(":int}", "}").replace(":path}", "}")
        if path not in UNDOCUMENTED:
            served.setdefault(path, set()).update(m.lower() for m in route.methods or ())
    documented = {path: set(operations) for path, operations in document["paths"].items()}
    assert documented == {path: methods - {"head"} for path, methods in served.items()}
    # Both spellings of the seed are served, and documented alike.
    paths = document["paths"]
    for seed, short in [("/api/signup/", "/signup/"), ("/api/alerts/create/", "/create_alert/")]:
        assert paths[seed]["post"]["summary"] == paths[short]["post"]["summary"]
    assert paths["/api/alerts/create/"]["post"]["operationId"] == "create_api_alerts_create"


async def test_openapi_describes_every_endpoint_with_its_schemas(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (path, method)
            if method == "post" and "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                assert schema["required"], path
    create = document["paths"]["/api/alerts/create/"]["post"]
    assert create["security"] == [{"bearer": []}]
    fields = create["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"percent", "window", "frequency", "expires_at", "webhook_url"} <= set(fields)
    assert set(create["responses"]) == {"201", "400", "401", "408", "413"}


async def test_unknown_paths_and_methods_answer_json_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/path")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found"}
    wrong_method = await client.get("/api/signup/")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "Method Not Allowed"}
