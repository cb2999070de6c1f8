#!/usr/bin/env bash
# The test bed of `make test`: real Elasticsearch, Prometheus and Alertmanager
# on loopback, installed on a fresh Debian machine and started once per run.
#   scripts/testbed.sh start   install what is missing, start all three, write .testbed/env
#   scripts/testbed.sh stop    stop all three
#   scripts/testbed.sh env     print the export lines of a running test bed
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
state="${TESTBED_STATE:-$root/.testbed}"  # TESTBED_STATE: a second test bed beside the default one
es_version=8.19.7
es_user=calico-es
es_home="$cache/elasticsearch-$es_version"

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url seconds what logfile
  local url=$1 secs=$2 what=$3 logfile=$4 i
  for ((i = 0; i < secs * 2; i++)); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  log "$what did not answer $url within ${secs}s; last log lines:"
  tail -n 40 "$logfile" >&2 || true
  return 1
}

install_debian_packages() {
  local missing=()
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v promtool >/dev/null || missing+=(prometheus)
  [ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
  command -v curl >/dev/null || missing+=(curl)
  command -v unzip >/dev/null || missing+=(unzip)
  command -v buildah >/dev/null || missing+=(buildah)  # the image test: make image, offline, FROM scratch
  [ -x /usr/bin/chromium ] || missing+=(chromium)  # the status page's browser tests
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The packages start their own services where an init system runs; ours
  # use ports of their own, so those are left alone.
}

install_elasticsearch() {
  if [ -x "$es_home/bin/elasticsearch" ]; then return; fi
  mkdir -p "$cache"
  local zip="$cache/elasticsearch-$es_version.zip"
  if [ ! -s "$zip" ]; then
    log "fetching Elasticsearch $es_version (integ-test-zip) from Maven Central"
    mvn -q dependency:copy \
      -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$es_version:zip" \
      -DoutputDirectory="$cache" -Dmdep.stripVersion=false >/dev/null \
      || die "could not fetch Elasticsearch from Maven Central"
  fi
  rm -rf "$es_home.tmp" && mkdir -p "$es_home.tmp"
  unzip -q "$zip" -d "$es_home.tmp"
  mv "$es_home.tmp"/elasticsearch-* "$es_home" && rm -rf "$es_home.tmp"
}

# The integ-test-zip lacks the analysis-common module, which the security
# index needs to store API keys; internal/testbed/es-analysis-plugin provides the
# three components it uses, compiled against this Elasticsearch's own jars.
install_analysis_plugin() {
  local src="$root/internal/testbed/es-analysis-plugin" dest="$es_home/plugins/testbed-analysis"
  local stamp; stamp=$(cat "$src"/src/org/calicoanomaly/esanalysis/*.java | sha256sum | cut -c1-16)
  if [ -f "$dest/.source-$stamp" ]; then return; fi
  log "building the test bed's analysis plugin"
  local lib="$es_home/lib" build; build=$(mktemp -d)
  javac --release 17 -nowarn -d "$build/classes" \
    -cp "$lib/elasticsearch-plugin-api-$es_version.jar:$lib/elasticsearch-plugin-analysis-api-$es_version.jar:$(ls "$lib"/lucene-analysis-common-*.jar):$(ls "$lib"/lucene-core-*.jar)" \
    "$src"/src/org/calicoanomaly/esanalysis/*.java || die "could not compile internal/testbed/es-analysis-plugin"
  rm -rf "$dest" && mkdir -p "$dest"
  (cd "$build/classes" && jar cf "$dest/testbed-analysis.jar" .)
  cat > "$dest/stable-plugin-descriptor.properties" <<PROPS
description=uax_url_email, pattern_capture and unique for the test bed's security index
version=1.0
name=testbed-analysis
elasticsearch.version=$es_version
java.version=17
PROPS
  cat > "$dest/named_components.json" <<JSON
{
  "org.elasticsearch.plugin.analysis.TokenFilterFactory": {
    "pattern_capture": "org.calicoanomaly.esanalysis.PatternCaptureFilterFactory",
    "unique": "org.calicoanomaly.esanalysis.UniqueFilterFactory"
  },
  "org.elasticsearch.plugin.analysis.TokenizerFactory": {
    "uax_url_email": "org.calicoanomaly.esanalysis.UAXURLEmailTokenizerFactory"
  }
}
JSON
  touch "$dest/.source-$stamp"
  rm -rf "$build"
  chmod -R a+rX "$dest"
}

java_home() {
  local java
  java=$(readlink -f "$(command -v java)") || die "no java on PATH (Java 17 is needed for Elasticsearch)"
  dirname "$(dirname "$java")"
}

# launch_elasticsearch starts the plain node and returns at once;
# await_elasticsearch waits for it, so both nodes boot at the same time.
launch_elasticsearch() {
  id "$es_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$es_user"
  local dir="$state/elasticsearch"
  rm -rf "$dir" && mkdir -p "$dir/data" "$dir/logs" "$dir/config"
  cp -r "$es_home/config/." "$dir/config/"
  cat > "$dir/config/elasticsearch.yml" <<YML
cluster.name: calico-anomaly-testbed
node.name: testbed
path.data: $dir/data
path.logs: $dir/logs
network.host: 127.0.0.1
http.port: 0
transport.port: 0
node.portsfile: true
discovery.type: single-node
xpack.security.enabled: false
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
YML
  chown -R "$es_user" "$dir"
  chmod -R a+rX "$es_home"
  chmod a+x "$root" "$cache" "$state" 2>/dev/null || true
  local jh; jh=$(java_home)
  runuser -u "$es_user" -- env ES_JAVA_HOME="$jh" ES_PATH_CONF="$dir/config" ES_JAVA_OPTS="-Xms512m -Xmx512m" \
    "$es_home/bin/elasticsearch" >"$state/logs/elasticsearch.log" 2>&1 &
  echo $! >"$state/elasticsearch.pid"
}

# await_elasticsearch waits for the node launch_elasticsearch started and
# sets es_url.
await_elasticsearch() {
  local dir="$state/elasticsearch" i
  # 5 minutes: a busy 2-core machine has taken over 2 minutes.
  for ((i = 0; i < 600; i++)); do
    [ -s "$es_home/logs/http.ports" ] && break
    [ -s "$dir/logs/http.ports" ] && break
    kill -0 "$(cat "$state/elasticsearch.pid")" 2>/dev/null || { tail -n 40 "$state/logs/elasticsearch.log" >&2; die "Elasticsearch exited at start"; }
    sleep 0.5
  done
  local ports_file="$dir/logs/http.ports"
  [ -s "$ports_file" ] || ports_file="$es_home/logs/http.ports"
  [ -s "$ports_file" ] || { tail -n 40 "$state/logs/elasticsearch.log" >&2; die "Elasticsearch wrote no http.ports within 300s"; }
  local addr; addr=$(head -n 1 "$ports_file")
  es_url="http://$addr"
  wait_http "$es_url/_cluster/health?wait_for_status=yellow&timeout=60s" 120 Elasticsearch "$state/logs/elasticsearch.log"
}

start_prometheus_and_alertmanager() {
  local am_port prom_port
  am_port=$(free_port)
  mkdir -p "$state/alertmanager/data"
  cat > "$state/alertmanager/alertmanager.yml" <<YML
route:
  receiver: sink
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: sink
YML
  /usr/bin/prometheus-alertmanager --config.file="$state/alertmanager/alertmanager.yml" \
    --storage.path="$state/alertmanager/data" --web.listen-address="127.0.0.1:$am_port" \
    --cluster.listen-address="" >"$state/logs/alertmanager.log" 2>&1 &
  echo $! >"$state/alertmanager.pid"
  am_url="http://127.0.0.1:$am_port"

  prom_port=$(free_port)
  mkdir -p "$state/prometheus/data" "$state/prometheus/targets" "$state/prometheus/rules"
  cat > "$state/prometheus/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $state/prometheus/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$am_port"]
scrape_configs:
  - job_name: calico-anomaly-exporter
    file_sd_configs:
      - files: ["$state/prometheus/targets/*.json"]
        refresh_interval: 1s
YML
  prometheus --config.file="$state/prometheus/prometheus.yml" --storage.tsdb.path="$state/prometheus/data" \
    --web.listen-address="127.0.0.1:$prom_port" --web.enable-lifecycle >"$state/logs/prometheus.log" 2>&1 &
  echo $! >"$state/prometheus.pid"
  prom_url="http://127.0.0.1:$prom_port"
  wait_http "$am_url/-/ready" 60 Alertmanager "$state/logs/alertmanager.log"
  wait_http "$prom_url/-/ready" 60 Prometheus "$state/logs/prometheus.log"
}

healthy() {
  [ -s "$state/env" ] || return 1
  # shellcheck disable=SC1091
  (. "$state/env" && curl -fsS -o /dev/null "$TESTBED_ES_URL/_cluster/health" && curl -fsS -o /dev/null "$TESTBED_PROMETHEUS_URL/-/ready" \
    && curl -fsS -o /dev/null "$TESTBED_ALERTMANAGER_URL/-/ready" && [ -n "${TESTBED_ES_SECURE_URL:-}" ] \
    && curl -sS -o /dev/null --cacert "$TESTBED_ES_SECURE_CA_FILE" "$TESTBED_ES_SECURE_URL") 2>/dev/null
}

stop() {
  local name pid i
  for name in prometheus alertmanager elasticsearch elasticsearch-secure; do
    [ -s "$state/$name.pid" ] || continue
    pid=$(cat "$state/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$state/$name.pid"
  done
  # Elasticsearch runs as a child of its launcher; make sure none of this
  # test bed's is left (another test bed, with another state folder, stays up).
  pkill -u "$es_user" -f -- "$state/" 2>/dev/null || true
  rm -f "$state/env"
}

# A second node with security on: TLS on HTTP with a CA made here, a file
# realm with an admin and a read-only user, API keys enabled. Secrets go to
# files under $state/secure (0600), never to command lines.
# launch_secure_elasticsearch starts it and returns at once.
launch_secure_elasticsearch() {
  local dir="$state/elasticsearch-secure" sec="$state/secure"
  rm -rf "$dir" "$sec" && mkdir -p "$dir/data" "$dir/logs" "$dir/config" "$sec"
  chmod 700 "$sec"
  cp -r "$es_home/config/." "$dir/config/"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=calico-anomaly testbed CA" \
    -keyout "$sec/ca.key" -out "$sec/ca.crt" >/dev/null 2>&1 || die "openssl could not make the CA"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/config/node.key" -out "$sec/node.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$sec/san.ext"
  openssl x509 -req -in "$sec/node.csr" -CA "$sec/ca.crt" -CAkey "$sec/ca.key" -CAcreateserial -days 3 \
    -extfile "$sec/san.ext" -out "$dir/config/node.crt" >/dev/null 2>&1 || die "openssl could not sign the node certificate"
  cat > "$dir/config/elasticsearch.yml" <<YML
cluster.name: calico-anomaly-testbed-secure
node.name: testbed-secure
path.data: $dir/data
path.logs: $dir/logs
network.host: 127.0.0.1
http.port: 0
transport.port: 0
node.portsfile: true
discovery.type: single-node
xpack.security.enabled: true
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.certificate: node.crt
xpack.security.http.ssl.key: node.key
xpack.security.transport.ssl.enabled: false
xpack.security.authc.api_key.enabled: true
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
YML
  cat > "$dir/config/roles.yml" <<YML
calico_anomaly_reader:
  cluster: [monitor]
  indices:
    - names: ["tigera_secure_ee_*", "calico_*"]
      privileges: [read, view_index_metadata]
YML
  openssl rand -hex 16 >"$sec/admin-password"
  openssl rand -hex 16 >"$sec/reader-password"
  chmod 600 "$sec"/*-password
  local jh; jh=$(java_home)
  ES_JAVA_HOME="$jh" ES_PATH_CONF="$dir/config" "$es_home/bin/elasticsearch-users" useradd testbed-admin \
    -p "$(cat "$sec/admin-password")" -r superuser >/dev/null || die "elasticsearch-users could not add the admin"
  ES_JAVA_HOME="$jh" ES_PATH_CONF="$dir/config" "$es_home/bin/elasticsearch-users" useradd calico-reader \
    -p "$(cat "$sec/reader-password")" -r calico_anomaly_reader >/dev/null || die "elasticsearch-users could not add the reader"
  chown -R "$es_user" "$dir"
  runuser -u "$es_user" -- env ES_JAVA_HOME="$jh" ES_PATH_CONF="$dir/config" ES_JAVA_OPTS="-Xms384m -Xmx384m" \
    "$es_home/bin/elasticsearch" >"$state/logs/elasticsearch-secure.log" 2>&1 &
  echo $! >"$state/elasticsearch-secure.pid"
}

# await_secure_elasticsearch waits for the node launch_secure_elasticsearch
# started and sets es_secure_url.
await_secure_elasticsearch() {
  local dir="$state/elasticsearch-secure" sec="$state/secure" i
  for ((i = 0; i < 600; i++)); do
    [ -s "$dir/logs/http.ports" ] && break
    kill -0 "$(cat "$state/elasticsearch-secure.pid")" 2>/dev/null || { tail -n 40 "$state/logs/elasticsearch-secure.log" >&2; die "the secure Elasticsearch exited at start"; }
    sleep 0.5
  done
  [ -s "$dir/logs/http.ports" ] || die "the secure Elasticsearch wrote no http.ports within 300s"
  es_secure_url="https://$(head -n 1 "$dir/logs/http.ports")"
  for ((i = 0; i < 600; i++)); do
    if curl -fsS -o /dev/null --cacert "$sec/ca.crt" -u "testbed-admin:$(cat "$sec/admin-password")" \
      "$es_secure_url/_cluster/health?wait_for_status=yellow&timeout=5s" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  tail -n 40 "$state/logs/elasticsearch-secure.log" >&2
  die "the secure Elasticsearch did not answer $es_secure_url within 300s"
}

start() {
  if healthy; then log "reusing the running test bed"; return; fi
  stop
  mkdir -p "$state/logs"
  local began=$SECONDS
  install_debian_packages
  install_elasticsearch
  install_analysis_plugin
  # A failed start leaves nothing of this test bed running.
  trap 'status=$?; if [ "$status" -ne 0 ]; then log "start failed: stopping what it started"; stop; fi' EXIT
  # The two Elasticsearch nodes boot in parallel (each takes a JVM's start,
  # most of the test bed's time), Prometheus and Alertmanager meanwhile.
  launch_elasticsearch
  launch_secure_elasticsearch
  start_prometheus_and_alertmanager
  await_elasticsearch
  await_secure_elasticsearch
  cat >"$state/env" <<ENV
export TESTBED_ES_URL=$es_url
export TESTBED_PROMETHEUS_URL=$prom_url
export TESTBED_ALERTMANAGER_URL=$am_url
export TESTBED_PROMETHEUS_TARGETS_DIR=$state/prometheus/targets
export TESTBED_PROMETHEUS_RULES_DIR=$state/prometheus/rules
export TESTBED_ES_SECURE_URL=$es_secure_url
export TESTBED_ES_SECURE_CA_FILE=$state/secure/ca.crt
export TESTBED_ES_SECURE_ADMIN_PASSWORD_FILE=$state/secure/admin-password
export TESTBED_ES_SECURE_READER_PASSWORD_FILE=$state/secure/reader-password
ENV
  trap - EXIT
  log "up in $((SECONDS - began))s: Elasticsearch $es_url, Prometheus $prom_url, Alertmanager $am_url"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) [ -s "$state/env" ] && cat "$state/env" || die "no test bed is running" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
