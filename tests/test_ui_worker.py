"""The face worker thread and the store jobs thread, with the real pipeline and store."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from kiosk.camera.scripted import PERSON_A, blank_frames, person_frames
from kiosk.flows.jobs import InlineJobs, ThreadJobs
from kiosk.store import Store
from kiosk.ui.face_worker import FaceWorker
from ui_support import store_settings


def wait_results(worker: FaceWorker, count: int = 1, timeout: float = 20.0):
    results, deadline = [], time.monotonic() + timeout
    while len(results) < count and time.monotonic() < deadline:
        results += worker.take()
        time.sleep(0.005)
    return results


def test_worker_analyses_frames_off_the_calling_thread(pipeline):
    worker = FaceWorker(pipeline.analyze)
    try:
        face, empty = person_frames(PERSON_A)[0], blank_frames(1)[0]
        assert worker.offer(7, face)
        assert not worker.offer(8, face), "busy: the frame is skipped, not queued"
        (result,) = wait_results(worker)
        assert result.frame_seq == 7 and result.good and result.embedding.shape == (128,)
        assert worker.offer(9, empty)
        (result,) = wait_results(worker)
        assert result.frame_seq == 9 and not result.has_face
    finally:
        worker.close()


def test_reset_drops_results_of_earlier_frames(pipeline):
    started = threading.Event()
    release = threading.Event()

    def slow_analyze(image):
        started.set()
        release.wait(5)
        return pipeline.analyze(image)

    worker = FaceWorker(slow_analyze)
    try:
        worker.offer(1, person_frames(PERSON_A)[0])
        assert started.wait(5)
        worker.reset()  # e.g. the person pressed Start over while the frame was analysed
        release.set()
        time.sleep(0.5)
        assert worker.take() == []
        assert worker.analysed == 1
    finally:
        release.set()
        worker.close()


def test_a_failing_frame_does_not_stop_the_worker(pipeline):
    calls = []

    def flaky(image):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("interpreter hiccup")
        return pipeline.analyze(image)

    worker = FaceWorker(flaky)
    try:
        worker.offer(1, person_frames(PERSON_A)[0])
        (first,) = wait_results(worker)
        assert not first.has_face and worker.errors == 1
        worker.offer(2, person_frames(PERSON_A)[0])
        (second,) = wait_results(worker)
        assert second.good
    finally:
        worker.close()


def test_thread_jobs_run_in_order_on_the_store_thread(tmp_path):
    settings = store_settings(tmp_path)
    main_thread = threading.get_ident()
    jobs = ThreadJobs(lambda: Store.open(settings))
    try:
        jobs.submit("a", lambda store: (threading.get_ident(), len(store.list_users())))
        jobs.submit("b", lambda store: 1 / 0)
        deadline, done = time.monotonic() + 10, []
        while len(done) < 2 and time.monotonic() < deadline:
            done += jobs.poll()
            time.sleep(0.01)
        assert [d.token for d in done] == ["a", "b"]
        assert done[0].value[0] != main_thread and done[0].value[1] == 0
        assert isinstance(done[1].error, ZeroDivisionError)
    finally:
        jobs.close()


def test_thread_jobs_report_a_store_that_cannot_open(tmp_path):
    settings = store_settings(tmp_path, store={"key_file": "missing-key"})
    with pytest.raises(Exception, match="key"):
        ThreadJobs(lambda: Store.open(settings))


def test_inline_jobs_queue_results_until_polled(tmp_path):
    jobs = InlineJobs(lambda: Store.open(store_settings(tmp_path)))
    jobs.submit("x", lambda store: 42)
    assert [d.value for d in jobs.poll()] == [42] and jobs.poll() == []
    jobs.close()


def test_observation_keeps_box_landmarks_and_pose(pipeline):
    from kiosk.flows.faces import observation_from

    frame = person_frames(PERSON_A)[0]
    result = pipeline.analyze(frame)
    observation = observation_from(result, 3, frame.shape, 12.5)
    assert observation.frame_size == (640, 480) and observation.analysis_ms == 12.5
    np.testing.assert_allclose(observation.box, result.face.box[:4])
    assert observation.landmarks.shape == (5, 2) and abs(observation.yaw_deg) < 10
