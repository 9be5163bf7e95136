# Sendback — the two front-door commands are `make run` and `make test` (see README.md).
# Everything builds with plain cargo (plus the in-repo `xtask` for the browser bundle); no
# cargo-leptos, wasm-bindgen-cli or system binaryen is needed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# One target dir for every build; CI points it at a cache outside the clone.
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
SITE_ROOT := $(CARGO_TARGET_DIR)/site
BIN := $(CARGO_TARGET_DIR)/release/sendback
CHROMIUM ?= /usr/bin/chromium
# The PostgreSQL server `make bench-pg` builds its databases on (a database to connect to).
BENCH_PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: help run build tools tools-e2e test test-rust test-e2e lint fmt check-wasm-deps dev samples seed bench bench-pg bench-pages bench-intake bench-import bench-api bench-webhooks

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

run: build ## build an optimised release and serve it on http://127.0.0.1:3000 with the demo data
	$(BIN) serve --site-root "$(SITE_ROOT)"

build: tools ## release build: the server binary and the optimised browser bundle
	cargo run -q -p xtask -- site --release
	cargo build --release -p server

tools: ## install what the build needs: the wasm32 target and binaryen's wasm-opt (npm)
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@test -x end2end/node_modules/.bin/wasm-opt -a -x end2end/node_modules/.bin/playwright || \
		(cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)

tools-e2e: tools ## also Debian's Chromium for the browser tests
	@test -x $(CHROMIUM) || { \
		echo "installing chromium from Debian"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq chromium >/dev/null; }

test: check-wasm-deps test-rust test-e2e ## every test: unit, integration (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set), browser

test-rust: ## unit and integration tests
	cargo test --workspace --features app/ssr

test-e2e: tools-e2e build ## Playwright in headless Chromium against the release build, on a free port and a fresh database
	@port=$$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"); \
	data=$$(mktemp -d -t sendback-e2e.XXXXXX); \
	trap 'rm -rf "$$data"' EXIT; \
	cd end2end && SENDBACK_E2E_PORT=$$port SENDBACK_E2E_DATA=$$data SENDBACK_BIN="$(BIN)" \
		SENDBACK_SITE_ROOT="$(SITE_ROOT)" CHROMIUM_PATH=$(CHROMIUM) npx playwright test

lint: check-wasm-deps ## rustfmt and clippy for both feature sets
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --features app/ssr -- -D warnings
	cargo clippy -p app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

check-wasm-deps: ## the browser bundle must not contain server-only crates
	@for c in diesel argon2 csv tower-sessions axum tokio libsqlite3-sys pq-sys utoipa; do \
		if cargo tree -p app --no-default-features --features hydrate --target wasm32-unknown-unknown -e normal -i $$c 2>/dev/null | grep -q .; then \
			echo "error: $$c is in the wasm build"; exit 1; fi; done; echo "wasm build is free of server-only crates"

fmt: ## format the code
	cargo fmt --all

dev: tools ## debug build of the bundle and server, then serve (rebuild by re-running)
	cargo run -q -p xtask -- site
	cargo run -p server -- serve --site-root "$(SITE_ROOT)"

seed: ## seed the demo into an empty database (the server also does it at start-up)
	cargo run --release -p server -- seed

bench: ## benchmark the rejection engine on SQLite (5M leads, 1M rows; needs the sqlite3 shell)
	@command -v sqlite3 >/dev/null || { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq sqlite3 >/dev/null; }
	cargo build --release -p server
	$(BIN) bench --dir "$(CARGO_TARGET_DIR)/bench"

bench-pg: ## the same on PostgreSQL at BENCH_PG_URL, against psql (builds sendback_bench_pristine; needs psql)
	@command -v psql >/dev/null || { echo "psql not found (apt-get install postgresql-client)"; exit 1; }
	cargo build --release -p server
	$(BIN) --database-url "$(BENCH_PG_URL)" bench --dir "$(CARGO_TARGET_DIR)/bench-pg"

bench-pages: ## latency of All leads and the lead page on a 1,000,000-lead SQLite database
	cargo build --release -p server
	$(BIN) bench-pages --dir "$(CARGO_TARGET_DIR)/bench-pages"

bench-intake: ## lead intake (POST /api/v1/lead) on SQLite: leads/s and latency, 50 connections
	cargo build --release -p server
	$(BIN) bench-intake

bench-import: ## bulk lead import on SQLite: rows/s and peak RSS for a 1M-row file
	cargo build --release -p server
	$(BIN) bench-import

bench-api: ## single-lead rejects (POST /api/v1/lead-status/reject/{id}) on SQLite: rejects/s and latency, 50 connections
	cargo build --release -p server
	$(BIN) bench-api

bench-webhooks: ## webhook delivery on SQLite: events/s to a local receiver (50,000 events)
	cargo build --release -p server
	$(BIN) bench-webhooks

samples: ## regenerate samples/ from the demo generator
	cargo run -p server -- samples --out samples
