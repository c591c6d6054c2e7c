"""A web page on another site, in a real Chromium, cannot drive the lab (CSRF, including text/plain forms)."""
from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.browser


def open_runs(server_url: str) -> int:
    with urllib.request.urlopen(server_url + "/api/runs", timeout=10) as response:
        return len(json.loads(response.read())["runs"])


@pytest.fixture(scope="module")
def evil_url():
    """Another site on this machine: http://localhost:<other port> is a different site from the lab's
    http://127.0.0.1:<port> (Chromium's local-network shield does not step in between two local sites, just as
    Firefox and Safari never do, so the lab has to refuse these requests itself)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body>cute cats</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()


def test_another_site_cannot_start_runs_or_upload(browser, server_url, evil_url):
    context = browser.new_context()
    page = context.new_page()
    page.goto(evil_url)
    before = open_runs(server_url)
    statuses = page.evaluate("""async (lab) => {
        const body = JSON.stringify({preset: 'bigram', steps: 5, seed: 'csrf'});
        const out = [];
        // simple requests: no preflight, the response is opaque but the request is sent
        for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
          try { await fetch(lab + '/api/runs', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': type}, body}); out.push('sent'); }
          catch (e) { out.push('blocked'); }
        }
        try { await fetch(lab + '/api/uploads/text', {method: 'POST', mode: 'no-cors', body: 'some text'}); out.push('sent'); }
        catch (e) { out.push('blocked'); }
        // a real form post, as a hidden form on the page would do it
        const form = document.createElement('form');
        form.method = 'POST'; form.enctype = 'text/plain'; form.action = lab + '/api/runs'; form.target = 'sink';
        const field = document.createElement('input'); field.name = body.slice(0, -1) + ',"x":"'; field.value = '"}';
        form.append(field);
        const sink = document.createElement('iframe'); sink.name = 'sink'; document.body.append(sink, form);
        form.submit();
        await new Promise((r) => setTimeout(r, 1000));
        return out;
    }""", server_url)
    assert "sent" in statuses            # the browser did send them: the server is what refused
    assert open_runs(server_url) == before
    context.close()
