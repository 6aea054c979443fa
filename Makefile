# Two entry points, each complete on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install rnnkit with its test tools into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rnnkit-installed
# The CPU wheel of torch lies on this machine's disk; an unpinned torch would pull a CUDA build.
TORCH_PIN := torch==2.13.0
# The web page's test drives a real headless browser: Debian's Chromium. The music task renders audio with
# FluidSynth and a General MIDI soundfont (TimGM6mb, 6 MB). One apt line installs all that is missing.
BROWSER := /usr/bin/chromium
SYNTH := /usr/bin/fluidsynth
SOUNDFONT := /usr/share/sounds/sf2/TimGM6mb.sf2
SYSTEM := $(BROWSER) $(SYNTH) $(SOUNDFONT)
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fluidsynth \
	timgm6mb-soundfont

.PHONY: test demo lint install clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) $(SYSTEM)

$(SYSTEM) &:  # grouped: one apt run installs whichever are missing
	$(APT) || (apt-get update -q && $(APT))

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

test: lint $(SYSTEM)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/rnnkit demo

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
