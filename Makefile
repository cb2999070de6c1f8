GO      ?= go
BIN     ?= bin/calico-anomaly-exporter
PKG     ?= ./...
FUZZ    ?=
FUZZTIME ?= 30s
TESTBED := scripts/testbed.sh

.PHONY: build run test unit-test integration-test rules-test testbed-start testbed-stop bench lint fuzz clean generate fuzz-short

build:
	$(GO) build -o $(BIN) ./cmd/calico-anomaly-exporter

# The exporter on the built-in simulated cluster; no Elasticsearch needed.
run:
	$(GO) run ./cmd/calico-anomaly-exporter --source=simulated --train.lookback=72h

# Everything: vet, unit tests, rule tests, then the integration tests on a
# real Elasticsearch, Prometheus and Alertmanager that the test bed installs
# and starts, and always stops.
test: lint unit-test fuzz-short
	@$(TESTBED) start
	@status=0; \
	$(MAKE) --no-print-directory rules-test integration-test || status=$$?; \
	$(TESTBED) stop; \
	exit $$status

unit-test:
	$(GO) test -race -count=1 ./...

rules-test:
	promtool check rules rules/*.rules.yml
	promtool test rules rules/*.rules_test.yml
	amtool check-config deploy/alertmanager/alertmanager.yml

integration-test:
	. .testbed/env && $(GO) test -tags integration -count=1 -p 1 -timeout 20m ./...

testbed-start:
	$(TESTBED) start

testbed-stop:
	$(TESTBED) stop

# Rewrite what is generated from one source: deploy/prometheusrule.yaml
# from rules/calico-anomaly.rules.yml, deploy/grafana-dashboards.yaml from
# dashboards/*.json. Tests fail while either is out of date.
generate:
	$(GO) test ./rules ./dashboards -run 'Generated' -update

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKG)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

# make fuzz: every fuzz test for FUZZTIME each (make test runs them 5s each);
# make fuzz FUZZ=FuzzDecodeFlowLog PKG=./calicolog FUZZTIME=10m: one of them.
fuzz:
	@if [ -n "$(FUZZ)" ]; then $(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(PKG); \
	else scripts/fuzz.sh $(FUZZTIME); fi

fuzz-short:
	scripts/fuzz.sh 5s

clean:
	rm -rf bin
