from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"

# one BLAS thread: faster for tiny models and steady when tests share the cores
os.environ["OPENBLAS_NUM_THREADS"] = "1"  # tiny test models: threads only add overhead


def pytest_collection_modifyitems(config, items):
    """A test marked ``torch`` is skipped, with the reason, where PyTorch is not installed."""
    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(reason="needs torch (pip install 'tinylm[torch]')")
    for item in items:
        if item.get_closest_marker("torch"):
            item.add_marker(skip)


def shared_file(name: str, folder: str = "data") -> Path:
    """../shared/<folder>/<name>, or skip the test cleanly when it is absent."""
    path = SHARED / folder / name
    if not path.is_file():
        pytest.skip(f"shared {folder} file {name} not available")
    return path


@pytest.fixture
def shakespeare_path() -> Path:
    return shared_file("tinyshakespeare.txt")


@pytest.fixture
def names_path() -> Path:
    return shared_file("names.txt")


@pytest.fixture
def stream_text_file(tmp_path: Path) -> Path:
    """A small prose file (a stream) made here, so stream tests never need the network."""
    words = ("the quick brown fox jumps over the lazy dog while seven wizards quietly hex "
             "a jovial bumpkin and the king of france sings a merry song to the river").split()
    import random
    rnd = random.Random(7)
    lines = [" ".join(rnd.choice(words) for _ in range(rnd.randint(6, 14))).capitalize() + "." for _ in range(800)]
    path = tmp_path / "prose.txt"
    path.write_text(" ".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest on one thread, and OpenMP spin-waits badly on a busy 2-core machine."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
