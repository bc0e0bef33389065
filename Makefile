# Office 365 gateway: build, run and test. `make help` lists the targets.
SHELL := /bin/bash
MODULES := gen services/shared services/tenant services/subscription services/user services/facade services/allinone services/console sim sim/sdkcheck bench deploy
BIN := $(CURDIR)/bin
GO_TEST_FLAGS ?= -race -count=1
# Modules tested without the race detector: sim/sdkcheck only drives the
# simulator with Microsoft's Graph SDK, whose race-instrumented build alone
# takes minutes and gigabytes; its plain build is shared with go vet.
NO_RACE_MODULES := sim/sdkcheck
FILTER ?=
RUN_FLAGS ?= -retry-timeout 3s
# Every binary is static and built with trimmed paths: `make build` and
# `make images` then share the build cache (the images only relink), and the
# end-to-end tests run the binaries the images ship.
GO_BUILD := CGO_ENABLED=0 go build -trimpath
# The images' tag: a release builds on its tagged commit, whose version is the
# newTag of deploy/base/kustomization.yaml (deploy/README.md).
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
IMAGE_ARCH ?= amd64
IMAGES := tenant subscription user facade console allinone

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(BIN)/buf: tools/go.mod
	@mkdir -p $(BIN)
	GOWORK=off go -C tools build -o $(BIN)/buf github.com/bufbuild/buf/cmd/buf

.PHONY: tools
tools: $(BIN)/buf $(BIN)/imagebuild ## Build the pinned tools (buf, imagebuild) into bin/

$(BIN)/imagebuild: tools/go.mod $(wildcard tools/imagebuild/*.go)
	@mkdir -p $(BIN)
	GOWORK=off go -C tools build -o $(BIN)/imagebuild ./imagebuild

.PHONY: images
images: $(BIN)/imagebuild ## Image tarballs of the services, no Docker: bin/images/<service>-<version>.tar (VERSION=v1.2.3; default git describe)
	@mkdir -p $(BIN)/images/$(IMAGE_ARCH)
	GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO_BUILD) -ldflags '-s -w -X github.com/o365gateway/gateway/services/shared/service.Version=$(VERSION)' \
		-o $(BIN)/images/$(IMAGE_ARCH)/ $(foreach s,$(IMAGES),./services/$(s)/cmd/$(s))
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) $(BIN)/imagebuild -version '$(VERSION)' -arch $(IMAGE_ARCH) \
		-out $(BIN)/images $(foreach s,$(IMAGES),$(s)=$(BIN)/images/$(IMAGE_ARCH)/$(s))
	GOWORK=off O365GW_IMAGES=$(BIN)/images O365GW_IMAGE_VERSION='$(VERSION)' go -C tools test -count=1 ./imagebuild
	@tag=$$(sed -n 's/.*newTag: *\([^ },]*\).*/\1/p' deploy/base/kustomization.yaml | sort -u); \
	if [ "$$tag" != '$(VERSION)' ]; then echo "note: the manifests deploy $$tag (deploy/base/kustomization.yaml); these images are $(VERSION)"; fi

.PHONY: proto
proto: $(BIN)/buf ## Lint the protos and regenerate gen/
	$(BIN)/buf lint
	$(BIN)/buf generate

.PHONY: check-gen
check-gen: $(BIN)/buf ## Fail when gen/ is stale (regenerates into a temp dir and compares)
	$(BIN)/buf lint
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(BIN)/buf generate -o $$tmp && \
	diff -r -q -x go.mod -x go.sum -x openapi.go $$tmp/gen gen && echo "gen/ is fresh"

# The API the protos must stay compatible with (buf.yaml's breaking rules;
# v1alpha/v1beta packages are exempt): an image of the protos as last
# released, committed, since there are no release tags to compare against
# and buf's registry is not reachable. Nothing remote is read.
BREAKING_BASELINE := proto/baseline.binpb

.PHONY: breaking
breaking: $(BIN)/buf ## Fail when the protos break the API of the committed baseline (proto/baseline.binpb)
	$(BIN)/buf breaking --against $(BREAKING_BASELINE)

.PHONY: breaking-baseline
breaking-baseline: $(BIN)/buf ## Write proto/baseline.binpb from the protos as they are (at a release, or to accept a deliberate break)
	$(BIN)/buf build --exclude-source-info -o $(BREAKING_BASELINE)

.PHONY: build
build: ## Build every binary into bin/ (the services, allinone (the single-process mode), the simulators, the *-dbcopy commands, audit-verify, o365ctl, the console)
	@mkdir -p $(BIN)
	$(GO_BUILD) -o $(BIN)/ ./services/tenant/cmd/tenant ./services/subscription/cmd/subscription ./services/user/cmd/user ./services/facade/cmd/facade ./services/allinone/cmd/allinone ./sim/cmd/mscloud ./sim/cmd/apsc ./sim/cmd/devstack \
		./services/tenant/cmd/tenant-dbcopy ./services/subscription/cmd/subscription-dbcopy ./services/user/cmd/user-dbcopy \
		./services/shared/cmd/audit-verify ./services/shared/cmd/o365ctl ./services/console/cmd/console

.PHONY: run
run: build ## Run the gateway with embedded defaults (SQLite, simulated Microsoft cloud); DATABASE_URL=postgres://... stores on PostgreSQL, REPLICAS=2 runs two of each service, ALL_IN_ONE=1 runs everything in one process
	$(BIN)/devstack -bin $(BIN) -work $(CURDIR)/.run $(RUN_FLAGS) $(if $(DATABASE_URL),-database-url '$(DATABASE_URL)') $(if $(REPLICAS),-replicas $(REPLICAS)) $(if $(ALL_IN_ONE),-all-in-one)

.PHONY: demo
demo: build ## Run a scripted APSC scenario against a fresh stack
	$(BIN)/devstack -bin $(BIN) -work $(CURDIR)/.run/demo $(RUN_FLAGS) -demo

.PHONY: fmt
fmt: ## Format the Go code
	gofmt -w $$(git ls-files '*.go' | grep -v '^gen/')

.PHONY: lint
lint: $(BIN)/buf ## buf lint, gofmt and go vet (each module also alone, GOWORK=off)
	$(BIN)/buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES) tools; do echo "go vet $$m"; (cd $$m && GOWORK=off go vet ./...) || exit 1; done

# Tests that cannot run here (no PostgreSQL server binaries) report
# themselves in this file (services/shared/sqldb/pgtest); test-unit prints it.
SKIP_LOG := $(CURDIR)/.run/skipped.log

.PHONY: test-unit
test-unit: export O365GW_SKIP_LOG := $(SKIP_LOG)
test-unit: ## Unit, storage (SQLite and a throwaway PostgreSQL) and component tests of every module (race detector on)
	@mkdir -p $(dir $(SKIP_LOG)) && rm -f $(SKIP_LOG)
	@status=0; for m in $(MODULES); do flags='$(GO_TEST_FLAGS)'; case " $(NO_RACE_MODULES) " in *" $$m "*) flags='-count=1';; esac; \
		(cd $$m && go test $$flags $(if $(FILTER),-run '$(FILTER)') $$(go list ./... | grep -v /e2e)) || { status=1; break; }; done; \
	if [ -s $(SKIP_LOG) ]; then \
		echo; echo "################################ SKIPPED ################################"; \
		sort -u $(SKIP_LOG); \
		echo "#########################################################################"; echo; \
	fi; exit $$status

# End-to-end tests that cannot run here (no Chromium for the console's
# browser test) report themselves in this file; test-e2e prints it.
E2E_SKIP_LOG := $(CURDIR)/.run/skipped-e2e.log

.PHONY: test-e2e
test-e2e: build ## End-to-end tests: start the binaries and drive the facade (as APSC does) and the console (in headless Chromium)
	@mkdir -p $(dir $(E2E_SKIP_LOG)) && rm -f $(E2E_SKIP_LOG)
	@status=0; cd sim && O365GW_SKIP_LOG=$(E2E_SKIP_LOG) O365GW_BIN=$(BIN) go test -count=1 -timeout 15m $(if $(FILTER),-run '$(FILTER)') ./e2e/... || status=1; \
	if [ -s $(E2E_SKIP_LOG) ]; then echo; echo "############################ SKIPPED (e2e) ############################"; \
		sort -u $(E2E_SKIP_LOG); echo "#########################################################################"; echo; fi; exit $$status

.PHONY: test-e2e-postgres
test-e2e-postgres: build ## The end-to-end tests with every service on PostgreSQL (a throwaway server; or DATABASE_URL=postgres://...)
	$(if $(DATABASE_URL),DATABASE_URL='$(DATABASE_URL)',tools/with-postgres) bash -c 'cd sim && O365GW_DATABASE_URL="$$DATABASE_URL" O365GW_BIN=$(BIN) go test -count=1 -timeout 15m $(if $(FILTER),-run '\''$(FILTER)'\'') ./e2e/...'

.PHONY: test-faults
test-faults: build ## The full fault matrix, every Microsoft side effect x every fault (about 5 minutes); POSTGRES=1 on a throwaway PostgreSQL
	@mkdir -p .run
	$(if $(POSTGRES),tools/with-postgres) bash -c 'set -o pipefail; cd sim && O365GW_DATABASE_URL="$${DATABASE_URL:-}" O365GW_BIN=$(BIN) O365GW_FAULTS=all \
		go test -count=1 -timeout 30m -run TestFaultMatrix -v ./e2e/ 2>&1 | tee $(CURDIR)/.run/test-faults.log \
		| grep -E -- "--- FAIL|^(ok|FAIL)|faults_test.go|[a-z] +[a-z_0-9]+ +[0-9.]+s$$"'

CHAOS_FOR ?= 150s
CHAOS_TEST = go test -count=1 -timeout 20m -run TestChaos -v ./e2e/ 2>&1 | grep -E -- "--- |^(ok|FAIL)|chaos|^ +\|"

.PHONY: chaos
chaos: build ## Random SIGKILLs of replicas and the facade under load, CHAOS_FOR (150s) on SQLite, then on PostgreSQL; prints operations, kills, duplicates, lost
	bash -c 'set -o pipefail; cd sim && O365GW_CHAOS=$(CHAOS_FOR) O365GW_BIN=$(BIN) $(CHAOS_TEST)'
	tools/with-postgres bash -c 'set -o pipefail; cd sim && O365GW_DATABASE_URL="$$DATABASE_URL" O365GW_CHAOS=$(CHAOS_FOR) O365GW_BIN=$(BIN) $(CHAOS_TEST)'

# BENCH_FLAGS pass to benchreport, e.g. BENCH_FLAGS="-only serving -runs 5"
# or BENCH_FLAGS=-quick (a smoke run of the harness).
BENCH_FLAGS ?=

.PHONY: bench
bench: build ## Measure and write bench/RESULTS.md (facade vs baselines, provisioning at Microsoft's limits, growth on SQLite and PostgreSQL, footprint, the single-process mode beside the separate processes); about 20 minutes, not part of make test; BENCH_BEFORE=<commit> also measures that commit's facade
	cd bench && go build -o $(BIN)/benchreport ./cmd/benchreport
	$(if $(BENCH_BEFORE),rm -rf $(BIN)/before-src && mkdir -p $(BIN)/before-src && git archive $(BENCH_BEFORE) | tar -x -C $(BIN)/before-src && \
		$(MAKE) -C $(BIN)/before-src build BIN=$(BIN)/before)
	tools/with-postgres bash -c 'cd bench && $(BIN)/benchreport -bin $(BIN) -postgres-url "$$DATABASE_URL" -out RESULTS.md \
		$(if $(BENCH_BEFORE),-before-bin $(BIN)/before -before-label $(BENCH_BEFORE)) $(BENCH_FLAGS)'


.PHONY: bench-micro
bench-micro: build ## Go micro-benchmarks (job queue on SQLite; one facade GET through the real binaries); figures printed, not asserted
	cd bench && O365GW_BIN=$(BIN) go test -run '^$$' -bench . -benchmem -benchtime $${BENCHTIME:-1000x} .

# Each fuzz target runs FUZZTIME; go test -fuzz takes one target per run.
# The seed corpora (f.Add and testdata/fuzz) also run in test-unit.
FUZZTIME ?= 10s

# fuzz_one runs target $(2) of package $(3) in module $(1). Go 1.26's fuzz
# coordinator may report "context deadline exceeded" when FUZZTIME ends
# while a worker is mid-input (golang/go#75804, fixed in Go 1.27): such a
# run wrote no failing input, and the target runs once more. Any other
# failure, or a failing input written, fails at once.
define fuzz_one
	@cd $(1) && for try in 1 2; do \
		out=$$(go test -run '^$$' -fuzz '^$(2)$$' -fuzztime $(FUZZTIME) $(3) 2>&1); rc=$$?; \
		if [ $$rc -eq 0 ]; then echo "$$out" | tail -2; break; fi; \
		if [ $$try -eq 1 ] && echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
			echo "fuzz: $(2) ($(3)): Go's fuzztime deadline race (golang/go#75804), no failing input; running it again"; continue; \
		fi; \
		echo "$$out"; exit $$rc; \
	done
endef

.PHONY: fuzz
fuzz: ## Fuzz the request and answer parsers, FUZZTIME (10s) per target, 7 targets; a failing input is kept in the package's testdata/fuzz
	$(call fuzz_one,services/facade,FuzzHandler,./internal/aps)
	$(call fuzz_one,services/tenant,FuzzAccount,./internal/accounts)
	$(call fuzz_one,services/shared,FuzzParseError,./partnercenter)
	$(call fuzz_one,services/shared,FuzzAnswer,./partnercenter)
	$(call fuzz_one,services/shared,FuzzAnswer,./graph)
	$(call fuzz_one,sim,FuzzRequest,./mscloud)
	$(call fuzz_one,sim,FuzzAdmin,./mscloud)

.PHONY: test
test: check-gen breaking lint test-unit fuzz test-e2e test-e2e-postgres images ## Everything CI runs
