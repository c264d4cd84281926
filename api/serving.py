"""How uvicorn serves the API: the options `pricealert api` and `pricealert up` give it."""

from __future__ import annotations

from typing import Any

from shared.settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` or ``uvicorn.Config``, beside the app and address."""
    return {
        "server_header": False,
        # The client's address is the socket's; api.client_address alone reads X-Forwarded-For,
        # and only from the proxies TRUSTED_PROXIES names. uvicorn's own reading trusts
        # 127.0.0.1 by default, which would let any local process pick its address.
        "proxy_headers": False,
        # Connections (and requests in flight) per worker; past it uvicorn answers 503. uvicorn
        # has no header timeout: slow headers are the reverse proxy's to cut (deploy/).
        "limit_concurrency": settings.api_max_connections,
    }
