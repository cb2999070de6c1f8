package dashboards

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// exported lists the metric names the collector emits (collector package).
var exported = map[string]bool{
	"calico_anomaly_score": true, "calico_anomaly_score_threshold": true,
	"calico_anomaly_observed_value": true, "calico_anomaly_expected_value": true,
	"calico_anomaly_detections_total": true, "calico_anomaly_model_ready": true,
	"calico_anomaly_detector_runs_total": true, "calico_anomaly_detector_run_duration_seconds": true,
	"calico_anomaly_detector_last_run_timestamp_seconds": true, "calico_anomaly_window_lag_seconds": true,
	"calico_anomaly_log_records_total": true, "calico_anomaly_log_records_malformed_total": true,
	"calico_anomaly_elasticsearch_up": true, "calico_anomaly_elasticsearch_retries_total": true,
	"calico_anomaly_series_dropped_total": true,
}

var metricName = regexp.MustCompile(`calico_anomaly_[a-z_]+`)

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboardsUseOnlyExportedMetrics(t *testing.T) {
	names, err := fs.Glob(Files, "*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no dashboards embedded: %v", err)
	}
	sort.Strings(names)
	for _, name := range names {
		raw, _ := Files.ReadFile(name)
		var d dashboard
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: missing uid, title or panels", name)
		}
		hasDatasource := false
		for _, v := range d.Templating.List {
			hasDatasource = hasDatasource || v.Type == "datasource"
		}
		if !hasDatasource {
			t.Errorf("%s: no datasource variable", name)
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", name, p.Title)
			}
			for _, target := range p.Targets {
				for _, m := range metricName.FindAllString(target.Expr, -1) {
					if !exported[m] {
						t.Errorf("%s: panel %q uses %s, which the exporter does not export", name, p.Title, m)
					}
				}
			}
		}
	}
}
