"""The lab's checkpoint download offers the full checkpoint and the weights alone."""
from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

import tinylm
from tinylm.checkpoints import load_checkpoint
from tinylm.lab.app import create_app

OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def lab():
    with TestClient(create_app(max_active=1), base_url="http://127.0.0.1:8765") as client:
        yield client


@pytest.mark.slow
def test_download_full_or_weights_only(lab):
    run_id = lab.post("/api/runs", json={"preset": "microgpt", "steps": 30, "seed": "dl", "sample_every": 0}).json()["id"]
    deadline = time.monotonic() + 60
    while lab.get(f"/api/runs/{run_id}").json()["state"] != "finished" and time.monotonic() < deadline:
        time.sleep(0.1)
    full = lab.get(f"/api/runs/{run_id}/checkpoint")
    weights = lab.get(f"/api/runs/{run_id}/checkpoint?weights_only=1")
    assert full.status_code == weights.status_code == 200
    assert weights.headers["content-disposition"].endswith('-weights.safetensors"')
    assert len(weights.content) < 0.45 * len(full.content)
    small = load_checkpoint(weights.content)
    assert small.optimizer_state == {} and small.meta["weights_only"] is True
    assert small.params.keys() == load_checkpoint(full.content).params.keys()
    assert tinylm.load(weights.content).sample(3, seed="x") == tinylm.load(full.content).sample(3, seed="x")
    # an upload continues a run: the weights alone cannot, and the answer says why
    refused = lab.post("/api/uploads/checkpoint", content=weights.content, headers=OCTET)
    assert refused.status_code == 400 and "weights-only" in refused.json()["error"]
