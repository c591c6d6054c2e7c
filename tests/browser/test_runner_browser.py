"""The runner as a learner uses it, in headless Chromium: its speed, Space, a reload, the samples, the queue.

Fixtures (conftest.py): server_url (a real lab, 2 training slots), browser, and page (which fails a test
that logged a console error or an uncaught page error).
"""
from __future__ import annotations

import pytest

from .pages import shot

pytestmark = pytest.mark.browser
RUNNER = "window.tinylab.runner"
DIALOGUE = """ALICE:
Good morrow, sir, and what news do you bring from the court today?
I pray you tell me all, and quickly, for the hour is late.

BOB:
None, lady; the king is well, and all his house is merry and at peace.
He bids you come to supper when the bell has rung for evening prayer.

"""                  # long lines: the lab reads it as one stream of text (prose), not a list of names


def set_speed(page, speed: int) -> None:
    page.eval_on_selector("#speed", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", speed)


def start_run(page, steps: int, sample_every: int = 0, seed: str = "runner", preset: str = "microgpt") -> str:
    page.select_option("#preset", preset)
    page.fill("#steps", str(steps))
    page.fill("#sample-every", str(sample_every))
    page.fill("#seed", seed)
    page.click("#start")
    page.wait_for_function(f"{RUNNER}.id && {RUNNER}.start_event !== null", timeout=60_000)
    return page.evaluate(f"{RUNNER}.id")


def iter_now(page) -> int:
    return page.evaluate(f"{RUNNER}.iter")


def test_speed_slider_paces_the_run_and_changes_it_live(page):
    assert page.input_value("#speed") == "10"                      # a pace a learner can follow ...
    assert "20 steps/s" in page.inner_text("#speed-v")             # ... and what it means
    set_speed(page, 1)
    assert "2 steps/s" in page.inner_text("#speed-v")
    start_run(page, steps=3000)
    page.wait_for_function(f"{RUNNER}.iter >= 1", timeout=30_000)
    begun = iter_now(page)
    page.wait_for_timeout(2000)
    assert iter_now(page) - begun < 10                             # 2 steps/s: about 4 in 2 s
    set_speed(page, 100)                                           # live, without a restart
    page.wait_for_function(f"{RUNNER}.iter > {begun + 200}", timeout=30_000)
    assert "full speed" in page.inner_text("#speed-v")
    iters = page.evaluate(f"{RUNNER}.iters")
    assert iters == list(range(1, len(iters) + 1))
    page.click("#reset")


def test_space_plays_and_pauses_but_types_a_space_in_a_field(page):
    set_speed(page, 20)
    run_id = start_run(page, steps=5000)
    page.wait_for_function(f"{RUNNER}.state === 'running'", timeout=30_000)
    page.keyboard.press("Space")                    # focus is still on Start: Space pauses, it does not restart
    page.wait_for_function(f"{RUNNER}.state === 'paused'")
    assert page.evaluate(f"{RUNNER}.id") == run_id
    at = iter_now(page)
    page.wait_for_timeout(400)
    assert iter_now(page) == at
    page.keyboard.press("Space")
    page.wait_for_function(f"{RUNNER}.state === 'running' && {RUNNER}.iter > {at}")
    page.click("#seed")
    page.keyboard.press("End")
    page.keyboard.press("Space")                    # typing: the seed gets its space, the run goes on
    assert page.input_value("#seed").endswith(" ")
    page.wait_for_timeout(300)
    assert page.evaluate(f"{RUNNER}.state") == "running"
    page.click("#reset")


def test_a_reload_reattaches_to_the_run_and_it_trains_on(page):
    set_speed(page, 30)
    run_id = start_run(page, steps=5000, seed="reload")
    page.wait_for_function(f"{RUNNER}.iter > 20", timeout=30_000)
    before = iter_now(page)
    page.reload()
    page.wait_for_function(f"window.tinylab && {RUNNER} && {RUNNER}.id === {run_id!r}", timeout=30_000)
    page.wait_for_function(f"{RUNNER}.state === 'running' && {RUNNER}.iter > {before + 20}", timeout=30_000)
    iters = page.evaluate(f"{RUNNER}.iters")
    assert iters == list(range(1, len(iters) + 1))     # the whole history replayed, and no step lost since
    assert page.input_value("#seed") == "reload" and page.input_value("#speed") == "30"
    assert page.inner_text("#r-iter").endswith("/ 5000")
    page.click("#reset")
    page.reload()                                          # reset forgets it: a fresh page stays empty
    page.wait_for_timeout(300)
    assert page.evaluate(f"{RUNNER}.id") is None


def test_samples_read_as_text_with_the_prompt_set_apart(page):
    page.set_input_files("#text-file", files=[{"name": "dialogue.txt", "mimeType": "text/plain",
                                               "buffer": (DIALOGUE * 40).encode()}])
    page.wait_for_function("document.querySelector('#text-info').textContent.includes('distinct')")
    set_speed(page, 100)
    start_run(page, steps=200, sample_every=40, preset="bigram", seed="text")
    page.wait_for_function(f"{RUNNER}.state === 'finished'", timeout=60_000)
    newest = page.locator("#sample-list > li").first
    prompt = page.evaluate(f"{RUNNER}.samples.at(-1).prompt")
    assert prompt and newest.locator(".prompt").first.text_content() == prompt   # set apart, exactly
    assert newest.locator(".continuation").first.text_content() == page.evaluate(f"{RUNNER}.samples.at(-1).samples[0]")
    assert newest.locator(".stamp").inner_text().startswith("iter 200 · ")
    # the model has learned the dialogue's line breaks: they are drawn as breaks, not as glyphs
    texts = page.locator(".sample-text")
    broken = [i for i in range(texts.count()) if "\n" in texts.nth(i).text_content()]
    assert broken, "no sample has a line break"
    text = texts.nth(broken[0])
    assert text.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    line = text.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 16")
    assert text.evaluate("e => e.getBoundingClientRect().height") > 1.5 * line
    listed = page.inner_text("#sample-list")
    assert "␣" not in listed and "↵" not in listed
    background = newest.locator(".prompt").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")    # visibly boxed
    shot(page, "runner-text-samples", "#runner")
    page.click("#reset")


def test_names_samples_are_listed_one_name_each(page):
    page.select_option("#data", "names")
    set_speed(page, 100)
    start_run(page, steps=60, sample_every=30, seed="names")
    page.wait_for_function(f"{RUNNER}.state === 'finished'", timeout=60_000)   # no sample arrives mid-read
    first = page.locator("#sample-list > li").first
    names = first.locator("ul.sample-names > li").all_inner_texts()
    assert names == [s.strip() or "(empty)" for s in page.evaluate(f"{RUNNER}.samples.at(-1).samples")]
    assert "␣" not in page.inner_text("#sample-list") and "↵" not in page.inner_text("#sample-list")
    page.click("#reset")


def test_a_run_waiting_for_a_slot_says_why_and_starts_when_one_frees(page):
    # two runs started by another client hold both training slots
    blockers = [page.evaluate("""(seed) => fetch('api/runs', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({steps: 50000, speed: 50, seed, label: 'other ' + seed})}).then(r => r.json()).then(j => j.id)""",
                              seed) for seed in ("x", "y")]
    try:
        set_speed(page, 100)
        page.fill("#steps", "40")
        page.click("#start")
        page.wait_for_function(f"{RUNNER}.state === 'queued'", timeout=30_000)
        assert page.inner_text("#run-state") == "queued"
        waiting = page.inner_text("#run-wait")
        assert "1st in line" in waiting and "other x" in waiting and "other y" in waiting
    finally:
        for run_id in blockers:
            page.evaluate("(id) => fetch('api/runs/' + id, {method: 'DELETE'})", run_id)
    page.wait_for_function(f"{RUNNER}.state === 'finished'", timeout=60_000)
    assert page.inner_text("#run-wait") == ""
    page.click("#reset")


def test_the_first_kernel_compile_is_announced_and_then_cleared(page, tmp_path, monkeypatch):
    from tinylm.engines import fused
    if fused.kernels() != "numba":
        pytest.skip(f"no compiled kernels here: {fused.kernels()}")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba-cache"))   # an install that never compiled them
    page.set_input_files("#text-file", files=[{"name": "dialogue.txt", "mimeType": "text/plain",
                                               "buffer": (DIALOGUE * 40).encode()}])
    page.wait_for_function("document.querySelector('#text-info').textContent.includes('distinct')")
    set_speed(page, 100)
    start_run(page, steps=3, preset="shakespeare-tiny", seed="compile")
    note = page.evaluate(f"{RUNNER}.start_event.note")
    assert "compiling the numpy engine's fused kernels" in note
    if page.evaluate(f"{RUNNER}.iter") == 0:
        assert note in page.inner_text("#notice")
        shot(page, "runner-compile-note", "#runner")
    page.wait_for_function(f"{RUNNER}.state === 'finished'", timeout=120_000)
    assert "compiling" not in page.inner_text("#notice")
    page.click("#reset")
