"""The lab's training workers exit when the server dies, even by SIGKILL (no clean-up code runs) after it
stalled: the worker's event pipe is then full, and without the parent watch its exit would wait forever to
flush it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(stdout) -> tuple[subprocess.Popen, int]:
    """`tinylm lab` in its own process, once it answers."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tinylm", "lab", "--no-browser", "--port", str(port)],
                              stdout=stdout, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    return server, port


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_workers_exit_when_the_server_is_killed():
    server, port = start_lab(stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        run = httpx.post(base + "/api/runs", json={"preset": "microgpt", "steps": 50000, "detail": True}, timeout=10)
        assert run.status_code == 200, run.text
        deadline = time.time() + 60
        workers: list[int] = []
        while time.time() < deadline and not workers:
            # the spawn context starts a resource tracker too; the worker is the one that trains
            workers = [pid for pid in children(server.pid) if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]
            time.sleep(0.2)
        assert workers, "no worker process started"
        time.sleep(1.0)
        server.send_signal(signal.SIGSTOP)      # the server stalls: nobody reads the worker's events
        time.sleep(3.0)
        server.send_signal(signal.SIGKILL)
        server.wait()
        deadline = time.time() + 10
        while time.time() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.2)
        left = [pid for pid in workers if alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"workers {left} kept running after the server died"
    finally:
        if server.poll() is None:
            server.kill()


@pytest.mark.slow
def test_ctrl_c_stops_the_server_even_mid_upload():
    server, port = start_lab(stdout=subprocess.PIPE)
    try:
        upload = socket.create_connection(("127.0.0.1", port))   # a client that sends half its upload, then stalls
        upload.sendall(f"POST /api/uploads/text HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
                       "application/octet-stream\r\nContent-Length: 4000000\r\n\r\n".encode() + b"abc\n" * 1000)
        time.sleep(1.0)
        sent = time.time()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
        waited = time.time() - sent
        output = server.stdout.read().decode()
        assert waited < 10
        assert "Traceback" not in output and "ERROR" not in output, output
        upload.close()
    finally:
        if server.poll() is None:
            server.kill()
