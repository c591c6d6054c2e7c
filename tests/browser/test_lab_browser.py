"""End-to-end: the lab page in headless Chromium (Debian's) against the real server on 127.0.0.1."""
from __future__ import annotations

import math

import pytest

from .pages import full_speed, shot, start_names_run

pytestmark = pytest.mark.browser
LN27 = math.log(27)
# fixtures server_url, browser and page (which fails a test that logged console/page errors): conftest.py


def test_names_run_learns_and_shows_samples(page):
    start_names_run(page)
    page.wait_for_function("window.tinylab.runner.state === 'finished'", timeout=120_000)
    runner = page.evaluate("({evals: window.tinylab.runner.evals, samples: window.tinylab.runner.samples.length})")
    assert runner["evals"][-1][2] < LN27                 # val loss below uniform guessing
    assert runner["samples"] >= 3
    assert page.locator("#sample-list li").count() >= 3
    assert "loss improved" in page.inner_text("#improved")
    assert page.inner_text("#r-iter") == "300 / 300"
    shot(page, "runner", "#runner")


def test_pause_resume_keeps_the_iter(page):
    start_names_run(page, steps=20000, sample_every=0)
    page.wait_for_function("window.tinylab.runner.iter > 20", timeout=60_000)
    page.click("#pause")
    page.wait_for_function("window.tinylab.runner.state === 'paused'")
    paused_at = page.evaluate("window.tinylab.runner.iter")
    page.wait_for_timeout(500)
    assert page.evaluate("window.tinylab.runner.iter") == paused_at
    assert page.inner_text("#r-iter").startswith(f"{paused_at} /")
    page.click("#resume")
    page.wait_for_function(f"window.tinylab.runner.iter > {paused_at + 5}", timeout=60_000)
    iters = page.evaluate("window.tinylab.runner.iters")
    assert iters == list(range(1, len(iters) + 1))       # resumed exactly: no iter skipped or repeated
    # a hidden tab pauses (Page Visibility) and resumes at the exact iter when shown again
    page.evaluate("Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
                  "document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function("window.tinylab.runner.state === 'paused'")
    hidden_at = page.evaluate("window.tinylab.runner.iter")
    page.wait_for_timeout(300)
    assert page.evaluate("window.tinylab.runner.iter") == hidden_at
    page.evaluate("Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
                  "document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function(f"window.tinylab.runner.iter > {hidden_at + 5}", timeout=60_000)
    assert f"resumed at iter {hidden_at}" in page.inner_text("#notice")
    page.click("#reset")


def test_pathology_lr10_shows_nan_diagnosis(page):
    page.click("#break-lr-10 button")
    page.wait_for_function("document.querySelector('#break-lr-10 .diag').dataset.kind === 'diverged'",
                           timeout=60_000)
    assert "diverged" in page.inner_text("#break-lr-10 .diag")
    shot(page, "breaks", "#breaks")


def test_chart_ticks_are_nice_numbers_with_clean_labels(page):
    ticks = page.evaluate("""import('./static/js/chart.js').then(({niceTicks}) =>
        [[0, 1], [0, 300], [2.13, 3.47], [0, 2.0e26], [3.29583, 3.29584]].map(([lo, hi]) => niceTicks(lo, hi, 5)))""")
    assert ticks[0]["labels"] == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]   # not 0.6000000000000001
    assert ticks[1]["labels"] == ["0", "100", "200", "300"]
    assert ticks[2]["labels"] == ["2.0", "2.5", "3.0", "3.5"]
    assert ticks[3]["labels"][:3] == ["0", "5e25", "1e26"]
    for t in ticks:   # every step is 1, 2 or 5 x 10^k and every label is short
        mantissa = t["step"] / 10 ** math.floor(math.log10(t["step"]) + 1e-9)
        assert any(abs(mantissa - m) < 1e-9 for m in (1, 2, 5)), t
        assert all(len(label) <= 10 for label in t["labels"]), t


def test_all_six_pathologies_show_their_diagnosis_over_the_recorded_curve(page):
    expected = {"healthy": "healthy", "lr-10": "diverged", "no-warmup": "unstable", "dead": "dead",
                "overfit": "overfit", "bad-init": "bad-init"}
    shot(page, "breaks-empty", "#breaks")
    page.click("#breaks-all")
    for name, diagnosis in expected.items():
        # the final verdict (a card shows the doctor's verdicts as they change during the run)
        page.wait_for_function(f"(d => d.dataset.final === 'yes' && d.dataset.kind === {diagnosis!r})"
                               f"(document.querySelector('#break-{name} .diag'))", timeout=90_000)
    # every card drew its live curve over the recorded one (both series hold points)
    drawn = page.evaluate("""Object.fromEntries(Object.entries(window.tinylab.breaks.cards).map(([name, card]) =>
        [name, ['canon', 'live'].map((s) => card.chart.series.get(s).points.length)]))""")
    assert all(canon > 0 and live > 0 for canon, live in drawn.values()), drawn
    shot(page, "breaks-all", "#breaks")


def test_temperature_reshapes_bars_but_not_their_ranking(page):
    start_names_run(page, steps=150, sample_every=0)
    page.wait_for_function("window.tinylab.runner.state === 'finished'", timeout=60_000)
    page.click("#sb-resample")
    page.wait_for_function("document.querySelectorAll('#sb-bars .bar').length === 27")

    def bars():
        labels = page.eval_on_selector_all("#sb-bars .bar", "els => els.map(e => e.dataset.label)")
        probs = page.eval_on_selector_all("#sb-bars .bar .num", "els => els.map(e => Number(e.textContent))")
        return labels, probs

    labels_warm, probs_warm = bars()
    page.eval_on_selector("#sb-temp", "e => { e.value = '0.3'; e.dispatchEvent(new Event('input')); }")
    labels_cold, probs_cold = bars()
    assert labels_cold == labels_warm                    # same ranking
    assert probs_cold[0] > probs_warm[0]                 # a colder temperature sharpens the top choice
    page.click("#sb-build")
    page.wait_for_function("window.tinylab.sandbox.done === true", timeout=30_000)
    page.click("#sb-names")
    page.wait_for_function("document.querySelectorAll('#sb-list li').length === 15")
    shot(page, "sandbox", "#sandbox")


def test_checkpoint_download_then_upload_continues_exactly(page, tmp_path):
    page.fill("#steps", "20000")          # long enough that the pause lands mid-run (microgpt: ~2000 it/s)
    page.fill("#seed", "ckpt")
    page.fill("#sample-every", "0")
    full_speed(page)
    page.click("#start")
    page.wait_for_function("window.tinylab.runner.state === 'running' || window.tinylab.runner.iter > 0", timeout=60_000)
    page.click("#pause")
    page.wait_for_function("window.tinylab.runner.state === 'paused'")
    at = page.evaluate("window.tinylab.runner.iter")
    with page.expect_download() as download_info:
        page.click("#ck-download")
    saved = tmp_path / "run.safetensors"
    download_info.value.save_as(saved)
    page.click("#step")
    page.wait_for_function(f"window.tinylab.runner.iter === {at + 1}")
    uninterrupted = page.evaluate("window.tinylab.runner.losses.at(-1)")

    page.set_input_files("#ck-file", str(saved))
    page.wait_for_function(f"window.tinylab.runner.start_event && window.tinylab.runner.start_event.start_iter === {at}"
                           " && window.tinylab.runner.state === 'paused'", timeout=60_000)
    assert f"iter {at}" in page.inner_text("#ck-info")
    page.click("#step")
    page.wait_for_function(f"window.tinylab.runner.iter === {at + 1}")
    assert page.evaluate("window.tinylab.runner.losses.at(-1)") == uninterrupted
    shot(page, "checkpoints", "#checkpoints")


def test_bad_checkpoint_upload_shows_a_readable_error(page, page_errors, tmp_path):
    page_errors.allow_http(400, "/api/uploads/checkpoint")     # the server refuses it: that is the point
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a checkpoint" * 10)
    page.set_input_files("#ck-file", str(junk))
    page.wait_for_selector("#checkpoints .panel-error:not([hidden])")
    assert "checkpoint" in page.inner_text("#checkpoints .panel-error")
    assert page.inner_text("#ck-info") == ""                   # no stale "checking…"
    shot(page, "bad-upload", "#checkpoints")


def test_twin_seeds_identical_hashes_then_parting_curves(page):
    page.fill("#tw-steps", "60")
    page.click("#tw-start")
    page.wait_for_function("document.querySelector('#tw-result').textContent.includes('weight hashes')",
                           timeout=90_000)
    assert "identical weight hashes" in page.inner_text("#tw-result")
    assert page.inner_text("#tw-hash-a") == page.inner_text("#tw-hash-b")
    page.click("#tw-differ")
    page.click("#tw-start")
    page.wait_for_function("document.querySelector('#tw-result').textContent.includes('weight hashes')",
                           timeout=90_000)
    assert "the curves part at iter" in page.inner_text("#tw-result")
    assert page.inner_text("#tw-hash-a") != page.inner_text("#tw-hash-b")
    shot(page, "twins", "#twins")


def test_training_cycle_steps_through_phases(page):
    page.click("#cycle-prepare")
    page.wait_for_function("!document.querySelector('#cycle-next').disabled", timeout=60_000)
    page.eval_on_selector("#cycle-speed", "e => { e.value = '100'; e.dispatchEvent(new Event('input')); }")
    page.fill("#cycle-target", "5")
    page.click("#cycle-play")
    page.wait_for_function("window.tinylab.cycle.details.length >= 5 && !window.tinylab.cycle.playing", timeout=60_000)
    assert page.inner_text("#cycle-iter") == "iter 5"
    assert page.locator("#cycle-table tbody tr").count() >= 2
    assert page.locator("#cycle-grads .bar").count() >= 3
    shot(page, "cycle", "#cycle")
    shot(page, "full-page")
