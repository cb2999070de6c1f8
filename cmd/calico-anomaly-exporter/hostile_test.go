package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// get returns the body of a page of e.
func (e *runningExporter) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(e.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPlantedSecretsAreShownNowhere plants a password in every URL the
// exporter takes (Elasticsearch, Alertmanager, Grafana, the external URL),
// lets Elasticsearch fail (nothing listens on its port) and greps every
// surface for it: /config, /metrics, the status page and the log.
func TestPlantedSecretsAreShownNowhere(t *testing.T) {
	const secret = "PLANTEDs3cret"
	esPort, amPort := freePort(t), freePort(t)
	e := startExporter(t,
		"--es.url=http://elastic:"+secret+"@127.0.0.1:"+strconv.Itoa(esPort),
		"--alertmanager.url=http://am:"+secret+"@127.0.0.1:"+strconv.Itoa(amPort),
		"--web.grafana-url=https://viewer:"+secret+"@grafana.example",
		"--web.external-url=https://ops:"+secret+"@exporter.example",
		"--es.timeout=1s",
	)
	deadline := time.Now().Add(40 * time.Second)
	for !strings.Contains(e.get(t, "/"), "127.0.0.1:"+strconv.Itoa(esPort)) {
		if time.Now().After(deadline) {
			t.Fatalf("the status page never showed the Elasticsearch error:\n%s", lastLines(e.log.String(), 20))
		}
		time.Sleep(500 * time.Millisecond)
	}
	surfaces := map[string]string{
		"/config":     e.get(t, "/config"),
		"/metrics":    e.get(t, "/metrics"),
		"status page": e.get(t, "/"),
		"log":         e.log.String(),
	}
	for name, text := range surfaces {
		if strings.Contains(text, secret) {
			i := strings.Index(text, secret)
			t.Errorf("%s shows the planted secret: …%s…", name, text[max(0, i-80):min(len(text), i+40)])
		}
	}
	if !strings.Contains(surfaces["/config"], "elastic:<secret>@127.0.0.1") {
		t.Errorf("/config does not show the masked Elasticsearch URL:\n%s", surfaces["/config"])
	}
	if !strings.Contains(surfaces["log"], "connection refused") {
		t.Errorf("no Elasticsearch error was logged, so the log surface was not exercised:\n%s", lastLines(surfaces["log"], 20))
	}
}
