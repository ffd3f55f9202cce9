# The browser test's system dependency: Debian's Chromium, which Playwright drives (tests/test_browser.py
# points it at /usr/bin/chromium; no browser is downloaded). Instructors and CI only.
ifneq ($(wildcard solutions/*.py),)
.PHONY: browser-deps screenshots

browser-deps: ## install Debian's Chromium (as root) for the browser test of make lab
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; }

screenshots: $(VENV)/.installed ## re-take docs/screenshots/ (the browser test, saving each step there)
	UPDATE_SCREENSHOTS=1 $(PYTHON) -m pytest -q -p no:cacheprovider tests/test_browser.py
endif
