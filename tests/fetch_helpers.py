"""Test helpers for the fetcher: tiny archives, tiny dependencies and a faulty HTTP server.

The server runs on 127.0.0.1 in a thread.  Each route serves bytes and pops
one *fault* per request from its queue, so a test scripts "500, then fine" or
"drop the connection mid-body, then fine" and afterwards inspects the requests
the server saw (to prove a resume used ``Range``, or that a 404 was not retried).
Every fault is bounded in time (a stall sleeps ``stall_seconds``; a trickle
sends at most ``trickle_bytes``, one per ``trickle_seconds``), so a client that
gives up never leaves a handler thread running for long.
"""
from __future__ import annotations

import hashlib
import io
import socket
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from tflm_build.fetch.download import Settings
from tflm_build.fetch.treehash import tree_hash


def make_zip(files: dict[str, bytes | str], top: str = "") -> bytes:
    """A zip with ``files`` below ``top/``; a str value makes a symbolic link to it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            full = f"{top}/{name}" if top else name
            if isinstance(data, str):
                info = zipfile.ZipInfo(full)
                info.create_system = 3
                info.external_attr = 0o120777 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
            else:
                archive.writestr(full, data)
    return out.getvalue()


def make_tar(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    """A tar from (name, bytes) files and ready-made TarInfo entries (links, devices)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return out.getvalue()


def files_hash(files: dict[str, bytes], scratch: Path) -> str:
    """The tree hash of ``files`` written out (computed the real way)."""
    for name, data in files.items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_bytes(data)
    return tree_hash(scratch)


def write_dep(folder: Path, name: str, url: str, tree: str, *, top: str = "", sha256: str | None = None,
              patches: str = "", extra: str = "") -> Path:
    """Write ``folder/<name>.yaml`` for a tiny test dependency."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    text = (f"name: {name}\nversion: '1.0'\nlicense: MIT\nurl: {url}\ntree: \"{tree}\"\n"
            + (f"strip_prefix: {top}\n" if top else "")
            + (f"sha256: \"{sha256}\"\n" if sha256 else "") + patches + extra)
    path.write_text(text)
    return path


def settings(root: Path, **overrides: object) -> Settings:
    """Settings for tests: private cache/downloads, fast timeouts and backoff."""
    values: dict[str, object] = dict(
        cache_dir=root / "cache", mirrors=[], offline=False, downloads_dir=root / "downloads",
        local_dirs={}, modified_ok=set(), connect_timeout=2.0, stall_timeout=0.5, retries=2,
        backoff=0.01, progress=False)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Route:
    """What one URL path serves: bytes, optional Range support, and scripted faults."""

    data: bytes = b""
    ranges: bool = True
    # "500", "drop", "short", "stall", "404", "redirect:/x", "trickle", "429" or "429:<Retry-After value>"
    faults: list[str] = field(default_factory=list)


@dataclass
class Seen:
    path: str
    range: str | None


class FaultServer(ThreadingHTTPServer):
    """A loopback HTTP server with per-route fault injection; records every request."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.stall_seconds = 3.0
        self.trickle_seconds = 0.1
        self.trickle_bytes = 40
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (a timeout, a deadline) is what the faults are for: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.seen.append(Seen(self.path, self.headers.get("Range")))
        route = self.server.routes.get(self.path)
        if route is None:
            return self._status(404)
        fault = route.faults.pop(0) if route.faults else ""
        if fault == "500":
            return self._status(500)
        if fault == "404":
            return self._status(404)
        if fault.startswith("429"):
            return self._status(429, {"Retry-After": fault[4:]} if fault[3:4] == ":" else {})
        if fault.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", fault.split(":", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "stall":
            time.sleep(self.server.stall_seconds)
            self.close_connection = True
            return
        data, start = route.data, 0
        wanted = self.headers.get("Range")
        if wanted and route.ranges and wanted.startswith("bytes="):
            start = int(wanted[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        if route.ranges:
            self.send_header("Accept-Ranges", "bytes")
        body = data[start:]
        if fault != "short":
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if fault == "trickle":
            for index in range(min(len(body), self.server.trickle_bytes)):
                try:
                    self.wfile.write(body[index:index + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up
                    break
                time.sleep(self.server.trickle_seconds)
            self.close_connection = True
            return
        if fault in ("drop", "short"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)
        self.close_connection = True

    def _status(self, code: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True


def leftovers(root: Path) -> list[str]:
    """Temporary or partial files left anywhere under ``root`` (should be none)."""
    found: Iterator[Path] = root.rglob("*")
    return sorted(str(p.relative_to(root)) for p in found
                  if p.name.startswith((".tmp-", ".old-")) or p.suffix in (".part", ".tmp"))
