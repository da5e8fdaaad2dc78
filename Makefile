# The two commands: `make run` starts the whole pipeline on loopback,
# `make test` runs every test with -race. Both install what is missing first.

SHELL := /bin/bash
NATS_SERVER_VERSION ?= v2.15.2
BIN := $(CURDIR)/.bin
SERVICES := keyservice ocr-worker analytics ingress

.PHONY: run test deps build nats-server clean accuracy load analytics-load chaos

run: deps build
	@deploy/scripts/run.sh

test: deps
	@deploy/scripts/test.sh

deps:
	@deploy/scripts/deps.sh
	@$(MAKE) --no-print-directory nats-server

nats-server: $(BIN)/nats-server

$(BIN)/nats-server:
	@echo "building nats-server $(NATS_SERVER_VERSION) from the Go module"
	@GOBIN=$(BIN) GOWORK=off go install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

build:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do echo "building $$s"; go build -o $(BIN)/$$s ./$$s || exit 1; done

# CER of the OCR engine on ../shared/ocr-corpus, per image and per category.
accuracy: deps
	@go run ./ocr-worker/cmd/accuracy -corpus ../shared/ocr-corpus

# The ingress under load: its overhead over the worker's recognition time at
# 4 concurrent clients, the worker with as many slots (so no job waits for
# one), and its memory under a flood of 20 MB uploads. Flags: ARGS="-slots 2
# ...", and OCR_WORKER_NICE=0 make load for the worker at normal priority.
load: deps build
	@OMP_THREAD_LIMIT=1 go run ./e2e/cmd/ingressload -bin $(BIN) -nats-server $(BIN)/nats-server $(ARGS)

# The pipeline under faults (a worker and a keyservice killed mid-work, NATS
# restarted, ClickHouse stopped, every service SIGTERMed) with load running:
# prints per phase the jobs and events lost, duplicates and over-admissions,
# and fails on any. ARGS="-clickhouse-outage 20s", or "-soak 30m" for a soak.
chaos: deps build
	@go run ./e2e/cmd/chaos -bin $(BIN) -nats-server $(BIN)/nats-server $(ARGS)

# Analytics under load: the sustained insert rate on a backlog of 1,000,000
# events (beside clickhouse-go inserting the same rows without NATS) and the
# lag from publish to queryable at 10,000 events/s. Starts a private
# ClickHouse unless ARGS="-clickhouse host:port"; see analytics/cmd/analyticsload.
analytics-load: deps build
	@go run ./analytics/cmd/analyticsload -bin $(BIN) -nats-server $(BIN)/nats-server $(ARGS)

clean:
	rm -rf $(BIN)
