//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
)

// TestSimulatedPortScanReachesAlertmanager runs the binary on the simulated
// cluster with --alertmanager.url pointing at the test bed's real
// Alertmanager: the port scan of the first attack round must arrive there as
// a CalicoAnomaly alert, and the send metrics must show it. At the default
// speed (60) a window lasts 5 s, so the alert stays firing that long before
// the next window resolves it.
func TestSimulatedPortScanReachesAlertmanager(t *testing.T) {
	amURL := testbed.AlertmanagerURL(t)
	cluster := fmt.Sprintf("notify-bin-%d", time.Now().UnixNano())
	e := startExporter(t, "--source=simulated", "--simulate.speed=60", "--es.cluster="+cluster,
		"--alertmanager.url="+amURL, "--web.grafana-url=http://grafana.example")
	deadline := time.Now().Add(120 * time.Second)
	var labels map[string]string
	for labels == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no port_scan alert of cluster %s in Alertmanager within 120s", cluster)
		}
		time.Sleep(200 * time.Millisecond)
		q := url.Values{"filter": {`alertname="CalicoAnomaly"`, `detector="port_scan"`, fmt.Sprintf("cluster=%q", cluster)}}
		res, err := http.Get(amURL + "/api/v2/alerts?" + q.Encode())
		if err != nil {
			continue
		}
		var got []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		}
		err = json.NewDecoder(res.Body).Decode(&got)
		res.Body.Close()
		if err == nil && len(got) > 0 {
			labels = got[0].Labels
			if !strings.HasPrefix(got[0].Annotations["dashboard_url"], "http://grafana.example/d/calico-anomaly-workload?") {
				t.Errorf("dashboard_url %q", got[0].Annotations["dashboard_url"])
			}
		}
	}
	if labels["namespace"] != "shop" || !strings.HasPrefix(labels["workload"], "frontend-") || labels["severity"] != "warning" {
		t.Errorf("alert labels %v, want the scanning shop/frontend-* with severity warning (600 ports against the threshold of 500 is not far above it)", labels)
	}
	_, mfs := e.scrape(t)
	if v := series(mfs, "calico_anomaly_alertmanager_alerts_sent_total", "alertmanager")[amURL]; v < 1 {
		t.Errorf("calico_anomaly_alertmanager_alerts_sent_total{alertmanager=%q} = %v", amURL, v)
	}
	if v := series(mfs, "calico_anomaly_alertmanager_up", "alertmanager")[amURL]; v != 1 {
		t.Errorf("calico_anomaly_alertmanager_up = %v", v)
	}
}
