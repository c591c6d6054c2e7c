"""tiny-shakespeare download: a loopback HTTP server stands in for GitHub."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tinylm.data import SHAKESPEARE_SHA256, ensure_shakespeare, load_text_source
from tinylm.data.shakespeare import CACHE_NAME, sha256_of
from tinylm.errors import DataError


class FileServer:
    """Serves ``body`` at /input.txt on 127.0.0.1 and counts the requests it gets."""

    def __init__(self, body: bytes) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.hits += 1
                if self.path != "/input.txt":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.hits = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/input.txt"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def shakespeare_bytes(shakespeare_path) -> bytes:
    return shakespeare_path.read_bytes()


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYLM_SHAKESPEARE", raising=False)
    monkeypatch.delenv("TINYLM_SHAKESPEARE_URL", raising=False)
    monkeypatch.setenv("TINYLM_CACHE", str(tmp_path / "cache"))


def test_download_is_verified_cached_and_reused(shakespeare_bytes, tmp_path, monkeypatch):
    with FileServer(shakespeare_bytes) as server:
        monkeypatch.setenv("TINYLM_SHAKESPEARE_URL", server.url)
        path = ensure_shakespeare(quiet=True)
        assert path == tmp_path / "cache" / CACHE_NAME
        assert sha256_of(path) == SHAKESPEARE_SHA256
        assert server.hits == 1
        assert ensure_shakespeare(quiet=True) == path
        text = load_text_source("shakespeare", quiet=True)
        assert server.hits == 1           # served from the cache
    assert len(text) == 1_115_394 and len(set(text)) == 65
    assert sorted(p.name for p in path.parent.iterdir()) == [CACHE_NAME]  # no temp files left


def test_progress_bar_mode_downloads_too(shakespeare_bytes, tmp_path):
    with FileServer(shakespeare_bytes) as server:
        path = ensure_shakespeare(url=server.url, cache_dir=tmp_path / "other", quiet=False)
    assert path == tmp_path / "other" / CACHE_NAME and sha256_of(path) == SHAKESPEARE_SHA256


def test_corrupted_download_is_rejected_and_nothing_cached(shakespeare_bytes, tmp_path):
    corrupted = bytearray(shakespeare_bytes)
    corrupted[1000] ^= 0x20
    with FileServer(bytes(corrupted)) as server:
        with pytest.raises(DataError, match="fails its checksum") as info:
            ensure_shakespeare(url=server.url, quiet=True)
    assert "TINYLM_SHAKESPEARE" in str(info.value) and "\n" not in str(info.value)
    cache = tmp_path / "cache"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_corrupted_cache_entry_is_replaced(shakespeare_bytes, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / CACHE_NAME).write_bytes(b"truncated")
    with FileServer(shakespeare_bytes) as server:
        path = ensure_shakespeare(url=server.url, quiet=True)
        assert server.hits == 1
    assert sha256_of(path) == SHAKESPEARE_SHA256


def test_unreachable_url_is_a_clear_data_error(tmp_path):
    with socket.socket() as sock:       # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError, match="could not download tiny-shakespeare") as info:
        ensure_shakespeare(url=f"http://127.0.0.1:{port}/input.txt", quiet=True)
    assert "TINYLM_SHAKESPEARE=" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "cache" / CACHE_NAME).exists()


def test_http_error_is_a_clear_data_error(shakespeare_bytes):
    with FileServer(shakespeare_bytes) as server:
        with pytest.raises(DataError, match="HTTP 404"):
            ensure_shakespeare(url=server.url.replace("input.txt", "missing.txt"), quiet=True)


def test_local_copy_argument_and_environment(shakespeare_path, tmp_path, monkeypatch):
    assert ensure_shakespeare(path=shakespeare_path) == shakespeare_path
    monkeypatch.setenv("TINYLM_SHAKESPEARE", str(shakespeare_path))
    assert ensure_shakespeare() == shakespeare_path
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("To be, or not to be\n")
    with pytest.raises(DataError, match="fails its checksum"):
        ensure_shakespeare(path=wrong)
    with pytest.raises(DataError, match="not found"):
        ensure_shakespeare(path=tmp_path / "absent.txt")
    assert not (tmp_path / "cache").exists()
