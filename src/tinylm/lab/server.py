"""``serve``: run the lab on uvicorn, print its URL and open a browser when there is one."""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import webbrowser

from .security import is_loopback, resolve_token

SHUTDOWN_GRACE_S = 3


def lab_url(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def can_open_browser() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, token: str | None = None,
          max_active: int = 2) -> None:
    """Serve the lab until interrupted. Off-loopback hosts require a token (generated if not given)."""
    import uvicorn

    from .app import create_app

    token = resolve_token(host, token)
    app = create_app(token=token, max_active=max_active, host=host)
    url = lab_url(host, port, token)
    print(f"tinylm lab: {url}", flush=True)
    if not is_loopback(host):
        print("  (listening beyond this machine: the token in the URL is required)", flush=True)
    if open_browser and can_open_browser():
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    # Ctrl-C must stop the lab even while a page holds an event stream open or an upload is half sent:
    # open requests get a few seconds to finish, then the server stops anyway
    logging.getLogger("uvicorn.error").addFilter(quiet_shutdown)
    uvicorn.run(cancellable(app), host=host, port=port, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_S)


def reachable_address(host: str) -> str:
    """The address learners should type: the bind address, or (bound to every interface) this machine's
    address on its network (the interface a packet out would leave by; nothing is sent)."""
    if host not in ("0.0.0.0", "::", ""):
        return host
    import socket
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def classroom_urls(host: str, port: int, teacher_token: str, join_key: str) -> tuple[str, str]:
    base = lab_url(reachable_address(host), port, None)
    return f"{base}teacher?token={teacher_token}", f"{base}join?key={join_key}"


def serve_classroom(host: str = "0.0.0.0", port: int = 8765, open_browser: bool = True, seats: int = 30,
                    state_dir: str | None = None) -> None:
    """Serve the lab to a class: print the teacher's URL and the join URL, serve until interrupted."""
    import uvicorn

    from .app import create_app
    from .classroom import Classroom

    classroom = Classroom(state_dir, seats=seats)
    try:
        app = create_app(classroom=classroom, host=host)
        teacher, join = classroom_urls(host, port, classroom.roster.teacher_token, classroom.roster.join_key)
        classroom.join_url = join
        joined = len(classroom.roster.learners)
        print(f"tinylm lab, classroom mode ({seats} seats"
              + (f", {joined} learners already joined" if joined else "") + ")", flush=True)
        print(f"  teacher:  {teacher}\n            (your view of the class; keep this link to yourself)", flush=True)
        print(f"  learners: {join}\n            (give this one to the class: each joins with a name)", flush=True)
        print(f"  state:    {classroom.state_dir} (learners and their progress survive a restart)", flush=True)
        if open_browser and can_open_browser():
            threading.Timer(1.0, webbrowser.open, args=(teacher,)).start()
        logging.getLogger("uvicorn.error").addFilter(quiet_shutdown)
        uvicorn.run(cancellable(app), host=host, port=port, log_level="warning",
                    timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    finally:
        classroom.close()


_cancelled_by_shutdown = threading.Event()


def cancellable(app):
    """The app, with a request cancelled by the shutdown ending quietly (it is not an error of the app)."""
    async def run(scope, receive, send):
        try:
            await app(scope, receive, send)
        except asyncio.CancelledError:
            _cancelled_by_shutdown.set()
    return run


def quiet_shutdown(record: logging.LogRecord) -> bool:
    """uvicorn reports the requests the shutdown cancelled as errors: they are expected, say nothing."""
    message = record.getMessage()
    if "graceful shutdown" in message:
        return False
    return not (_cancelled_by_shutdown.is_set() and "without starting response" in message)


class BackgroundServer:
    """The lab on uvicorn in a thread (tests, the load benchmark): ``with BackgroundServer(app) as url:``."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        import time
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the lab server did not start")
            time.sleep(0.05)
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
