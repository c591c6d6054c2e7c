"""--compat microgpt trains on microgpt.py's own data: makemore's names list, downloaded once (sha256-verified,
cached), or a local copy named by TINYLM_NAMES_MAKEMORE. A loopback HTTP server stands in for GitHub."""
from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from tinylm.data.makemore import CACHE_NAME, MAKEMORE_SHA256, ensure_makemore_names
from tinylm.data.shakespeare import sha256_of
from tinylm.errors import DataError
from tinylm.presets import apply_overrides, get_preset
from tinylm.training.loop import Trainer

from conftest import REPO, shared_file
from test_data_shakespeare import FileServer


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYLM_NAMES_MAKEMORE", raising=False)
    monkeypatch.delenv("TINYLM_NAMES_MAKEMORE_URL", raising=False)
    monkeypatch.setenv("TINYLM_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def makemore_path():
    return shared_file("names.txt")


def test_download_is_verified_cached_and_reused(makemore_path, tmp_path):
    with FileServer(makemore_path.read_bytes()) as server:
        path = ensure_makemore_names(url=server.url)
        again = ensure_makemore_names(url=server.url)
    assert path == again == tmp_path / "cache" / CACHE_NAME
    assert sha256_of(path) == MAKEMORE_SHA256 and server.hits == 1


def test_corrupted_download_is_refused_and_nothing_cached(makemore_path, tmp_path):
    with FileServer(makemore_path.read_bytes()[:-10]) as server:
        with pytest.raises(DataError, match="fails its checksum.*TINYLM_NAMES_MAKEMORE"):
            ensure_makemore_names(url=server.url)
    assert list((tmp_path / "cache").iterdir()) == []


def test_local_copy_is_checked(makemore_path, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYLM_NAMES_MAKEMORE", str(makemore_path))
    assert ensure_makemore_names() == makemore_path            # used in place, nothing downloaded
    wrong = tmp_path / "names.txt"
    wrong.write_text("emma\nolivia\n")
    monkeypatch.setenv("TINYLM_NAMES_MAKEMORE", str(wrong))
    with pytest.raises(DataError, match="not makemore's names list") as err:
        ensure_makemore_names()
    assert "\n" not in str(err.value)
    monkeypatch.setenv("TINYLM_NAMES_MAKEMORE", str(tmp_path / "missing.txt"))
    with pytest.raises(DataError, match="not found"):
        ensure_makemore_names()


@pytest.mark.slow
def test_offline_cli_run_is_one_line_naming_the_variable(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TINYLM_CACHE": str(tmp_path / "cache"),
           "TINYLM_NAMES_MAKEMORE_URL": "http://127.0.0.1:9/names.txt"}
    result = subprocess.run([sys.executable, "-m", "tinylm", "train", "--compat", "microgpt", "--steps", "3",
                             "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=120,
                            cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TINYLM_NAMES_MAKEMORE=" in lines[0], result.stderr


def test_compat_microgpt_defaults_to_makemore_unless_data_is_given():
    assert apply_overrides(get_preset("microgpt"), {"compat": "microgpt"}).train.data.source == "makemore"
    assert apply_overrides(get_preset("microgpt"), {"train.compat": "microgpt"}).train.data.source == "makemore"
    explicit = apply_overrides(get_preset("microgpt"), {"compat": "microgpt", "data.source": "names"})
    assert explicit.train.data.source == "names"
    assert apply_overrides(get_preset("microgpt"), {}).train.data.source == "names"   # no compat: unchanged


def _trainer_warnings(source: str) -> list[str]:
    p = apply_overrides(get_preset("microgpt"), {"compat": "microgpt", "data.source": source, "steps": 2,
                                                 "eval_every": 0, "sample_every": 0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Trainer(p.model, p.train)
    return [str(w.message) for w in caught]


def test_other_data_warns_that_the_run_will_not_retrace_microgpt(makemore_path, monkeypatch):
    [message] = _trainer_warnings("names")           # the bundled list is another one (SSA 2017)
    assert "not makemore's names list" in message and "will not retrace microgpt.py" in message
    assert _trainer_warnings(str(makemore_path)) == []  # the same list under another path retraces it
    monkeypatch.setenv("TINYLM_NAMES_MAKEMORE", str(makemore_path))
    assert _trainer_warnings("makemore") == []
