"""The face pipeline on real models: detector golden numbers, alignment, embedder, gates."""

import cv2
import numpy as np
import pytest

from kiosk.vision.align import align_face, similarity_transform, transform_points
from kiosk.vision.matcher import Gallery, distances, fuse
from kiosk.vision.mtcnn import nms
from kiosk.vision.quality import assess, estimate_pose

# The reference detector (the `mtcnn` 1.0.0 package, TensorFlow) on the two bundled
# public-domain images, recorded once: box (x, y, w, h) and the five landmarks.
REFERENCE = {
    "astronaut": {
        "box": (182, 64, 83, 107),
        "landmarks": [(204, 100), (245, 102), (224, 126), (202, 139), (244, 140)],
    },
    "cameraman": {
        "box": (197, 116, 58, 81),
        "landmarks": [(234, 147), (251, 149), (250, 167), (228, 179), (243, 180)],
    },
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_detector_matches_reference_package(pipeline, name, request):
    image = request.getfixturevalue(name)
    faces = pipeline.detector.detect(image)
    assert len(faces) == 1
    face, ref = faces[0], REFERENCE[name]
    assert face.score > 0.99
    np.testing.assert_allclose(face.landmarks, ref["landmarks"], atol=3.0)
    x, y, w, h = ref["box"]
    np.testing.assert_allclose(face.box, (x, y, x + w, y + h), atol=8.0)


def test_detector_returns_faces_largest_first(pipeline, astronaut):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((600, 900, 3), 128, np.uint8)
    canvas[20:276, 20:276] = small
    canvas[60:572, 360:872] = astronaut
    faces = pipeline.detector.detect(canvas)
    assert len(faces) == 2
    assert faces[0].width > faces[1].width
    assert faces[0].box[0] > 360 and faces[1].box[0] < 276


def test_pyramid_cut_by_worker_threads_gives_the_same_faces(pipeline, settings, astronaut):
    """The configured detector cuts its pyramid on threads; the faces (boxes, landmarks,
    scores) must be bit for bit those of the levels cut in order, one after the other."""
    from kiosk.vision.mtcnn import MtcnnDetector

    threaded = pipeline.detector
    assert threaded._pool is not None  # models.num_threads: 2 in config.yml
    in_order = MtcnnDetector(threaded.pnet, threaded.rnet, threaded.onet, settings.detector, resize_workers=1)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[40:440, 120:520] = cv2.resize(astronaut, (400, 400), interpolation=cv2.INTER_AREA)
    frame[300:428, 540:620] = cv2.resize(astronaut[40:200, 150:290], (80, 128), interpolation=cv2.INTER_AREA)
    for image in (frame, astronaut):
        want, got = in_order.detect(image), threaded.detect(image)
        assert len(want) == len(got) >= 1
        for a, b in zip(want, got):
            assert np.array_equal(a.box, b.box) and np.array_equal(a.landmarks, b.landmarks) and a.score == b.score


def test_detector_finds_nothing_in_a_faceless_image(pipeline):
    rng = np.random.default_rng(0)
    assert pipeline.detector.detect(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)) == []
    assert pipeline.detector.detect(np.zeros((20, 20, 3), np.uint8)) == []


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    keep = nms(boxes, np.array([0.5, 0.9, 0.8]), 0.5)
    assert keep.tolist() == [1, 2]


def test_similarity_transform_is_exact_on_synthetic_landmarks():
    template = np.array([[50.0, 44], [100, 44], [73, 76], [50, 104], [97, 104]])
    angle, scale, shift = np.radians(17), 2.3, np.array([120.0, -35.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = template @ rot.T + shift
    matrix = similarity_transform(landmarks, template)
    np.testing.assert_allclose(transform_points(matrix, landmarks), template, atol=1e-9)


def test_align_face_puts_landmarks_on_the_template():
    # Draw five dots, align, and find the dots where the template says.
    template = np.array([[30.0, 30], [70, 30], [50, 55], [35, 75], [65, 75]])
    landmarks = template * 1.7 + np.array([40.0, 25.0])
    image = np.zeros((300, 300, 3), np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
    chip = align_face(image, landmarks, template, (100, 100))
    for x, y in template:
        assert chip[int(round(y)), int(round(x))].max() > 200


def test_a_small_chip_of_a_large_frame_shrinks_only_the_face_region():
    """The pre-shrink for a chip much smaller than the face works on the part of the frame
    the chip shows: the same chip as shrinking the whole frame, up to resampling phase,
    including a face at the frame's edge."""
    from kiosk.vision import align

    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    template = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]])
    whole = align._crop_to_chip
    for shift in (np.array([250.0, 150.0]), np.array([-20.0, 300.0])):  # inside; over the left edge
        landmarks = template * 2.4 + shift
        cropped = align_face(frame, landmarks, template, (112, 112))
        try:
            align._crop_to_chip = lambda image, points, *_: (image, points)
            full = align_face(frame, landmarks, template, (112, 112))
        finally:
            align._crop_to_chip = whole
        assert np.abs(cropped.astype(int) - full.astype(int)).mean() < 1.5


def test_embedder_is_deterministic(pipeline, astronaut):
    first = pipeline.analyze(astronaut).embedding
    second = pipeline.analyze(astronaut.copy()).embedding
    assert first.shape == (pipeline.embedder.manifest.embedding_size,)
    np.testing.assert_array_equal(first, second)
    assert abs(np.linalg.norm(first) - 1.0) < 1e-5  # the dlib manifest asks for unit length


def test_same_face_close_different_faces_far(pipeline, astronaut, cameraman):
    threshold = pipeline.threshold("medium")
    a = pipeline.analyze(astronaut).embedding
    shifted = np.roll(cv2.resize(astronaut, (460, 460)), 20, axis=1)
    b = pipeline.analyze(shifted).embedding
    c = pipeline.analyze(cameraman).embedding
    assert pipeline.distance(a, b[None]) < threshold < pipeline.distance(a, c[None])


def test_gallery_nearest_agrees_with_brute_force():
    rng = np.random.default_rng(1)
    templates = rng.normal(size=(500, 128)).astype(np.float32)
    owners = [f"user{i // 3}" for i in range(500)]
    probe = templates[123] + 0.01 * rng.normal(size=128).astype(np.float32)
    for metric in ("euclidean", "cosine"):
        gallery = Gallery(templates, owners, metric)
        match = gallery.nearest(probe)
        brute = distances(probe, templates, metric)
        assert match.index == int(np.argmin(brute)) == 123 and match.owner == "user41"
        assert match.distance == pytest.approx(float(brute.min()), abs=1e-3)
    assert Gallery(np.zeros((0, 128)), [], "euclidean").nearest(probe) is None


def test_template_fusion():
    assert fuse(np.array([0.3, 0.5, 0.7]), "min") == pytest.approx(0.3)
    assert fuse(np.array([0.3, 0.5, 0.7]), "mean") == pytest.approx(0.5)
    assert fuse(np.array([]), "min") == float("inf")


def codes(pipeline, image):
    return {finding.code for finding in pipeline.analyze(image).findings}


def test_quality_passes_a_good_portrait(pipeline, astronaut):
    assert codes(pipeline, astronaut) == set()


def test_quality_flags_blur(pipeline, astronaut):
    assert "blurry" in codes(pipeline, cv2.GaussianBlur(astronaut, (0, 0), 4))


def test_quality_flags_darkness_and_glare(pipeline, astronaut):
    assert "too_dark" in codes(pipeline, (astronaut * 0.18).astype(np.uint8))
    assert "too_bright" in codes(pipeline, np.clip(astronaut * 0.5 + 150, 0, 255).astype(np.uint8))


def test_quality_flags_a_tiny_face(pipeline, astronaut):
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[100:260, 200:360] = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)
    assert "too_small" in codes(pipeline, canvas)


def test_quality_flags_two_people(pipeline, astronaut):
    canvas = np.concatenate([astronaut, astronaut], axis=1)
    assert "multiple_faces" in codes(pipeline, canvas)


def test_quality_flags_a_turned_head(pipeline, settings, cameraman):
    assert "pose" in codes(pipeline, cameraman)


def test_pose_estimate_on_synthetic_landmarks():
    frontal = np.array([[40.0, 40], [80, 40], [60, 60], [45, 80], [75, 80]])
    pose = estimate_pose(frontal)
    assert abs(pose.yaw_deg) < 1 and abs(pose.roll_deg) < 1 and abs(pose.pitch_deg) < 1
    turned = frontal.copy()
    turned[2, 0] += 15  # nose towards the right eye
    assert estimate_pose(turned).yaw_deg > 20
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    assert estimate_pose(frontal @ rot.T).roll_deg == pytest.approx(30, abs=0.5)
