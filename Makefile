# retalign — the two commands of the README, both idempotent on a fresh Debian 12 machine (as root):
#   make demo   installs what is missing, builds, runs the main job
#   make test   installs what is missing, builds, runs the whole test suite
SHELL := /bin/bash
APT_PACKAGES := libtorch-dev libgloo-dev libopenblas0-pthread libjpeg62-turbo-dev python3-torch python3-numpy python3-pil fonts-dejavu-core chromium
NODE ?= node

.PHONY: deps apt npm native build test demo bench clean

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# npm ci only when package-lock.json changed since the last install.
node_modules/.retalign-installed: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

npm: node_modules/.retalign-installed

native: apt npm
	$(NODE) native/build.mjs
	$(NODE) native/image/build.mjs

build: native
	npx tsc -p tsconfig.json

deps: build

test: build
	$(NODE) scripts/run-tests.mjs

demo: build
	$(NODE) bin/retalign.js demo

bench: build
	npm run bench:engine

clean:
	rm -rf dist native/build
