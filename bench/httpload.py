"""A lean HTTP/1.1 load generator (asyncio, keep-alive, raw sockets) for ingest benchmarks.

`bench.common.load` sends with `requests` from threads: about 1-2 ms of CPU per request, on the
same two cores as the server, so it, not the server, capped a bare LPUSH endpoint at ~550 req/s
(reliability.md §7.2 measured ~2,870 with wrk). This one spends ~0.1 ms per request. Both
endpoints of a comparison are measured with the same generator in the same command.

Closed loop: `concurrency` connections, each sending its next request when the last answer
arrived. Paced (open loop): request n is due at start + n/rate on the first free connection,
and its latency is measured from when it was due, so a server (or generator) that falls
behind shows it in the percentiles instead of hiding it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bench.common import LoadResult

RESPONSE_TIMEOUT_S = 30.0


def _request_bytes(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    length = 0
    chunked = False
    for line in header_lines:
        name, _, value = line.partition(":")
        lower = name.strip().lower()
        if lower == "content-length":
            length = int(value.strip())
        elif lower == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return int(status_line.split()[1])


async def _run(url: str, headers: dict[str, str], body: Callable[[int], dict[str, Any]],
               total: int, concurrency: int, rate_per_s: float | None) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    payloads = [_request_bytes(f"{host}:{port}", path, headers,
                               json.dumps(body(n)).encode()) for n in range(total)]
    codes: dict[int, int] = {}
    latencies: list[float] = []
    counter = iter(range(total))
    start = time.perf_counter()

    async def connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        for n in counter:
            due = start + n / rate_per_s if rate_per_s else None
            if due is not None and due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
            began = due if due is not None else time.perf_counter()
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(payloads[n])
                code = await asyncio.wait_for(_read_response(reader), RESPONSE_TIMEOUT_S)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                code = 0
                if writer is not None:
                    writer.close()
                reader = writer = None
            latencies.append((time.perf_counter() - began) * 1000)
            codes[code] = codes.get(code, 0) + 1
        if writer is not None:
            writer.close()

    started_wall = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return LoadResult(total, codes, started_wall, time.monotonic(), latencies)


def load(url: str, headers: dict[str, str], body: Callable[[int], dict[str, Any]], total: int,
         concurrency: int, rate_per_s: float | None = None) -> LoadResult:
    """POST `total` JSON bodies (`body(n)`, built before the clock starts) to `url`."""
    return asyncio.run(_run(url, headers, body, total, concurrency, rate_per_s))
