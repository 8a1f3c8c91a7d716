"""What every long-running service shares: the HTTP endpoints on `RUAJ_METRICS_PORT` and the
signal handlers that ask it to stop.

Endpoints: `/metrics` (Prometheus text format), `/healthz` (the process is alive and its event
loop answers) and `/readyz` (the service's own check: database and broker reachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import prometheus_client
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


class ServiceSettings(BaseSettings):
    """`RUAJ_METRICS_PORT` / `RUAJ_METRICS_HOST` of a service's HTTP endpoints."""

    model_config = SettingsConfigDict(env_prefix="RUAJ_", extra="ignore")

    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"


async def _respond(writer: asyncio.StreamWriter, status: str, body: bytes, ctype: str) -> None:
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def _readiness_body(check: ReadinessCheck) -> tuple[str, bytes]:
    try:
        async with asyncio.timeout(5):
            parts = await check()
    except Exception as exc:  # a failing check means "not ready", never a crash of the server
        logger.warning("readiness check failed", extra={"error": type(exc).__name__})
        return "503 Service Unavailable", b"not ready: check failed\n"
    lines = "".join(f"{name} {'ok' if ok else 'unavailable'}\n" for name, ok in parts.items())
    status = "200 OK" if all(parts.values()) else "503 Service Unavailable"
    return status, lines.encode()


def _handler(
    check: ReadinessCheck, registry: prometheus_client.CollectorRegistry
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers are not needed
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method != "GET":
                await _respond(writer, "405 Method Not Allowed", b"GET only\n", "text/plain")
            elif path == "/metrics":
                body = prometheus_client.generate_latest(registry)
                await _respond(writer, "200 OK", body, prometheus_client.CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                await _respond(writer, "200 OK", b"ok\n", "text/plain")
            elif path == "/readyz":
                status, body = await _readiness_body(check)
                await _respond(writer, status, body, "text/plain")
            else:
                await _respond(writer, "404 Not Found", b"not found\n", "text/plain")
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return handle


async def serve_endpoints(
    settings: ServiceSettings,
    ready: ReadinessCheck,
    stop: asyncio.Event,
    registry: prometheus_client.CollectorRegistry,
) -> None:
    """Serve `/metrics` (the service's own `registry`), `/healthz` and `/readyz` until `stop`
    is set."""
    server = await asyncio.start_server(
        _handler(ready, registry), host=settings.metrics_host, port=settings.metrics_port
    )
    logger.info(
        "serving /metrics, /healthz, /readyz",
        extra={"host": settings.metrics_host, "port": settings.metrics_port},
    )
    async with server:
        await stop.wait()


def install_signal_handlers(stop: Callable[[], None]) -> Callable[[], None]:
    """Call `stop` on SIGTERM and SIGINT; returns a function that removes the handlers."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)

    def remove() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    return remove
