"""Long calls release the GIL, and Ctrl-C (SIGINT, sent by the test) interrupts them
within a second, leaving the editor as it was."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import seqedit
from conftest import make_c0, ote_numpy, rel


class Counter(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.count = 0
        self.stop = False

    def run(self):
        while not self.stop:
            self.count += 1


def test_other_threads_run_during_apply():
    rng = np.random.default_rng(3)
    dk, dv, n = 1024, 768, 192
    c0 = np.asfortranarray(np.eye(dk) + 0.01 * np.ones((dk, dk)))
    w0 = np.asfortranarray(rng.standard_normal((dv, dk)))
    ed = seqedit.SequentialEditor(w0, c0, seqedit.Objective.memit(1.0))
    k = np.asfortranarray(rng.standard_normal((dk, n)))
    v = np.asfortranarray(rng.standard_normal((dv, n)))
    counter = Counter()
    counter.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    before = counter.count
    ed.apply(k, v)
    during = counter.count - before
    dt = time.perf_counter() - t0
    counter.stop = True
    counter.join()
    print(f"apply took {dt:.3f} s; the other thread counted {during} times meanwhile")
    assert dt > 0.05, "the step is too small to show anything"
    # A Python loop runs ~1e6-1e7 iterations/s alone; with the GIL held for the whole call
    # it would get through only at the call's boundaries.
    assert during > 10000 * dt


def interrupt_after(seconds):
    t = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    return t


def snapshot(ed):
    return (np.array(ed.weights), ed.system_inverse(), ed.journal.ids, ed.steps)


def same(a, b):
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b))


def test_ctrl_c_interrupts_projector_and_refresh():
    rng = np.random.default_rng(5)
    # A small editor that exists before, during and after the interrupted calls.
    small_c0 = make_c0(rng, 16)
    w0 = rng.standard_normal((6, 16))
    ed = seqedit.SequentialEditor(w0, small_c0, seqedit.Objective.memit(2.0))
    k, v = rng.standard_normal((16, 3)), rng.standard_normal((6, 3))
    ed.apply(k, v)
    before = snapshot(ed)

    # The projector of a 1000 x 1000 C0: seconds of O(d^3) work.
    d = 1000
    big = rng.standard_normal((d, d // 4))
    c0 = np.asfortranarray(big @ big.T / d)
    stages = []
    timer = interrupt_after(0.15)
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        seqedit.NullSpaceProjector(c0, progress=lambda s, f: stages.append((s, f)))
    waited = time.perf_counter() - t0
    timer.join()
    print(f"projector interrupted after {waited:.2f} s (signal at 0.15 s); stages seen: {stages}")
    assert waited < 1.3
    assert stages and stages[0][1] == 0.0
    assert same(before, snapshot(ed))
    t0 = time.perf_counter()
    seqedit.wait_background()
    print(f"the abandoned projector finished {time.perf_counter() - t0:.2f} s later")
    assert seqedit.background_jobs() == 0

    # Construction of a large editor (a Cholesky factorisation and inversion of 1600 x 1600).
    e = 1600
    big = np.asfortranarray(np.eye(e) + 1e-3)
    timer = interrupt_after(0.1)
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        seqedit.SequentialEditor(np.zeros((4, e), order="F"), big, seqedit.Objective.memit(1.0, 1.0))
    timer.join()
    assert time.perf_counter() - t0 < 1.2
    seqedit.wait_background()

    # refresh: interrupted at once; the rebuild finishes in the background and changes only
    # M^-1 (to round-off), never the weights or the journal.
    timer = interrupt_after(0.05)
    with pytest.raises(KeyboardInterrupt):
        for _ in range(10000):  # small refreshes until the signal lands inside one
            ed.refresh(small_c0)
    timer.join()
    seqedit.wait_background()
    after = snapshot(ed)
    assert np.array_equal(before[0], after[0]) and before[2:] == after[2:]
    assert rel(after[1], before[1]) < 1e-12
    ed.apply(k, v)  # the editor still works and is still the OTE
    j = ed.journal
    assert rel(ed.cumulative_update(), ote_numpy(small_c0, w0, j.keys(), j.values(), 2.0, 0.0)) < 1e-10
