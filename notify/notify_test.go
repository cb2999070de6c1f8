package notify

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var (
	w1 = source.Window{Start: time.Date(2026, 3, 2, 9, 10, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)}
	w2 = source.Window{Start: w1.End, End: w1.End.Add(5 * time.Minute)}
)

func verdict(detector, workload string, w source.Window, score float64, evidence map[string][]string) detect.Verdict {
	v := detect.Verdict{
		Detector: detector, Window: w, Score: score, Threshold: 0.5,
		Entity: detect.Entity{Cluster: "c1", Namespace: "shop", Workload: workload, Type: "wep"},
	}
	for log, recs := range evidence {
		if v.Evidence == nil {
			v.Evidence = map[string][]json.RawMessage{}
		}
		for _, r := range recs {
			v.Evidence[log] = append(v.Evidence[log], json.RawMessage(r))
		}
	}
	return v
}

func TestGroupPicksAndGroupsAnomalies(t *testing.T) {
	type want struct {
		detector, workload string
		detectors          []string
		evidence           map[string][]string
	}
	tests := []struct {
		name     string
		policy   Policy
		verdicts []detect.Verdict
		want     []want
	}{
		{
			name:     "a verdict under its threshold raises nothing",
			verdicts: []detect.Verdict{verdict("port_scan", "a-*", w1, 0.49, nil)},
		},
		{
			name:     "the minimum score keeps anomalies below it out",
			policy:   Policy{MinScore: 0.8},
			verdicts: []detect.Verdict{verdict("port_scan", "a-*", w1, 0.7, nil), verdict("ip_sweep", "b-*", w1, 0.9, nil)},
			want:     []want{{"ip_sweep", "b-*", []string{"ip_sweep"}, map[string][]string{}}},
		},
		{
			name:     "a silenced detector raises nothing",
			policy:   Policy{Silenced: map[string]bool{"port_scan": true}},
			verdicts: []detect.Verdict{verdict("port_scan", "a-*", w1, 0.9, nil), verdict("ip_sweep", "a-*", w1, 0.9, nil)},
			want:     []want{{"ip_sweep", "a-*", []string{"ip_sweep"}, map[string][]string{}}},
		},
		{
			name: "two detectors on one workload in one window carry each other's records by log",
			verdicts: []detect.Verdict{
				verdict("port_scan", "a-*", w1, 0.9, map[string][]string{"flows": {`{"dest_port":22}`, `{"dest_port":23}`}}),
				verdict("dga", "a-*", w1, 0.8, map[string][]string{"dns": {`{"qname":"x.example"}`}, "flows": {`{"dest_port":22}`}}),
			},
			want: []want{
				{"dga", "a-*", []string{"dga", "port_scan"}, map[string][]string{"flows": {`{"dest_port":22}`, `{"dest_port":23}`}, "dns": {`{"qname":"x.example"}`}}},
				{"port_scan", "a-*", []string{"dga", "port_scan"}, map[string][]string{"flows": {`{"dest_port":22}`, `{"dest_port":23}`}, "dns": {`{"qname":"x.example"}`}}},
			},
		},
		{
			name: "the same workload in another window or another workload is a group of its own",
			verdicts: []detect.Verdict{
				verdict("port_scan", "a-*", w1, 0.9, map[string][]string{"flows": {`{"n":1}`}}),
				verdict("ip_sweep", "a-*", w2, 0.9, map[string][]string{"flows": {`{"n":2}`}}),
				verdict("ip_sweep", "b-*", w1, 0.9, map[string][]string{"flows": {`{"n":3}`}}),
			},
			want: []want{
				{"ip_sweep", "a-*", []string{"ip_sweep"}, map[string][]string{"flows": {`{"n":2}`}}},
				{"ip_sweep", "b-*", []string{"ip_sweep"}, map[string][]string{"flows": {`{"n":3}`}}},
				{"port_scan", "a-*", []string{"port_scan"}, map[string][]string{"flows": {`{"n":1}`}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Group(tt.policy, tt.verdicts)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d anomalies, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Detector != w.detector || g.Entity.Workload != w.workload || !reflect.DeepEqual(g.Detectors, w.detectors) {
					t.Errorf("anomaly %d = %s %s %v, want %s %s %v", i, g.Detector, g.Entity.Workload, g.Detectors, w.detector, w.workload, w.detectors)
				}
				ev := map[string][]string{}
				for log, recs := range g.Evidence {
					for _, r := range recs {
						ev[log] = append(ev[log], string(r))
					}
				}
				if !reflect.DeepEqual(ev, w.evidence) {
					t.Errorf("anomaly %d evidence = %v, want %v", i, ev, w.evidence)
				}
			}
		})
	}
}

func TestDescriptionNamesWhatWasFound(t *testing.T) {
	v := verdict("port_scan", "a-*", w1, 0.75, nil)
	v.Summary = "a-* in namespace shop reached 600 distinct destination ports in 5m0s (threshold 500)"
	a := Group(Policy{}, []detect.Verdict{v, verdict("ip_sweep", "a-*", w1, 0.6, nil)})
	if len(a) != 2 {
		t.Fatalf("got %d anomalies", len(a))
	}
	d := a[1].Description()
	for _, want := range []string{"port_scan detector found anomalies in cluster c1", v.Summary, "score 0.75", "threshold 0.50", w1.String(), "Also flagged in the same window by ip_sweep."} {
		if !strings.Contains(d, want) {
			t.Errorf("description %q lacks %q", d, want)
		}
	}
	if got := a[1].Title(); got != "port_scan: shop/a-* is anomalous" {
		t.Errorf("Title() = %q", got)
	}
}

func TestQuarantinePolicyIsAReadyNetworkPolicy(t *testing.T) {
	tests := []struct {
		name      string
		entity    detect.Entity
		wantLabel map[string]string
		wantName  string
	}{
		{"a Deployment's pods by their pod-template-hash", detect.Entity{Namespace: "shop", Workload: "frontend-7d4f8b9c5d-*", Type: "wep"},
			map[string]string{"pod-template-hash": "7d4f8b9c5d"}, "quarantine-frontend"},
		{"a StatefulSet's pods by their app label", detect.Entity{Namespace: "db", Workload: "postgres-*", Type: "wep"},
			map[string]string{"app": "postgres"}, "quarantine-postgres"},
		{"a host endpoint has none", detect.Entity{Namespace: "-", Workload: "worker-1", Type: "hep"}, nil, ""},
		{"an outside network has none", detect.Entity{Namespace: "-", Workload: "pub", Type: "net"}, nil, ""},
		{"a name that is no Kubernetes name has none", detect.Entity{Namespace: "shop", Workload: "Bad Name-*", Type: "wep"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := QuarantinePolicy(tt.entity)
			if tt.wantLabel == nil {
				if got != "" {
					t.Fatalf("got a policy, want none:\n%s", got)
				}
				return
			}
			var np networkingv1.NetworkPolicy
			if err := yaml.UnmarshalStrict([]byte(got), &np); err != nil {
				t.Fatalf("not a NetworkPolicy: %v\n%s", err, got)
			}
			if np.Kind != "NetworkPolicy" || np.APIVersion != "networking.k8s.io/v1" {
				t.Errorf("kind %s/%s", np.APIVersion, np.Kind)
			}
			if np.Namespace != tt.entity.Namespace || np.Name != tt.wantName {
				t.Errorf("metadata %s/%s, want %s/%s", np.Namespace, np.Name, tt.entity.Namespace, tt.wantName)
			}
			if !reflect.DeepEqual(np.Spec.PodSelector.MatchLabels, tt.wantLabel) {
				t.Errorf("podSelector %v, want %v", np.Spec.PodSelector.MatchLabels, tt.wantLabel)
			}
			types := map[networkingv1.PolicyType]bool{}
			for _, pt := range np.Spec.PolicyTypes {
				types[pt] = true
			}
			if !types[networkingv1.PolicyTypeIngress] || !types[networkingv1.PolicyTypeEgress] || len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 {
				t.Errorf("policy does not deny all ingress and egress: %+v", np.Spec)
			}
		})
	}
}

func TestSeverityLabel(t *testing.T) {
	tests := []struct {
		severity int
		want     string
	}{{100, "critical"}, {70, "critical"}, {69, "warning"}, {40, "warning"}, {39, "info"}, {0, "info"}}
	for _, tt := range tests {
		if got := SeverityLabel(tt.severity); got != tt.want {
			t.Errorf("SeverityLabel(%d) = %q, want %q", tt.severity, got, tt.want)
		}
	}
	p := Policy{Severity: 100, DetectorSeverity: map[string]int{"dga": 30}}
	if p.SeverityOf("dga") != 30 || p.SeverityOf("port_scan") != 100 {
		t.Errorf("SeverityOf: dga %d port_scan %d", p.SeverityOf("dga"), p.SeverityOf("port_scan"))
	}
}

func TestPolicyValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   string
	}{
		{"minimum score above 1", Policy{MinScore: 1.5}, "minimum score 1.5"},
		{"negative minimum score", Policy{MinScore: -0.1}, "minimum score -0.1"},
		{"severity above 100", Policy{Severity: 101}, "severity 101"},
		{"a detector's severity below 0", Policy{DetectorSeverity: map[string]int{"dga": -1}}, "detector dga"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
	if err := (Policy{MinScore: 0.5, Severity: 100}).Validate(); err != nil {
		t.Errorf("a good policy: %v", err)
	}
}

func TestEvidenceJSONFitsItsBound(t *testing.T) {
	v := verdict("port_scan", "a-*", w1, 0.9, map[string][]string{
		"flows": {`{"r":"` + strings.Repeat("f", 100) + `"}`, `{"r":"` + strings.Repeat("g", 100) + `"}`, `{"r":"` + strings.Repeat("h", 100) + `"}`},
		"dns":   {`{"q":"x"}`},
	})
	a := Group(Policy{}, []detect.Verdict{v})[0]
	for _, bound := range []int{0, 1000, 300, 200, 30, 5} {
		got := a.EvidenceJSON(bound)
		if bound > 0 && len(got) > bound && got != "{}" {
			t.Errorf("EvidenceJSON(%d) is %d bytes", bound, len(got))
		}
		var ev map[string][]json.RawMessage
		if err := json.Unmarshal([]byte(got), &ev); err != nil {
			t.Errorf("EvidenceJSON(%d) is not JSON: %v", bound, err)
		}
		if bound == 0 && (len(ev["flows"]) != 3 || len(ev["dns"]) != 1) {
			t.Errorf("EvidenceJSON(0) dropped records: %s", got)
		}
	}
	if got := len(a.Evidence["flows"]); got != 3 {
		t.Errorf("EvidenceJSON changed the anomaly's evidence: %d flow records left", got)
	}
}

func TestDashboardURLOpensTheWorkloadDashboard(t *testing.T) {
	v := verdict("port_scan", "frontend-7d4f8b9c5d-*", w1, 0.9, nil)
	if got := DashboardURL("", v); got != "" {
		t.Errorf("no Grafana URL gave %q", got)
	}
	got := DashboardURL("http://grafana:3000/", v)
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/d/calico-anomaly-workload" {
		t.Errorf("path %q", u.Path)
	}
	q := u.Query()
	for k, want := range map[string]string{"var-cluster": "c1", "var-namespace": "shop", "var-workload": "frontend-7d4f8b9c5d-*", "var-detector": "port_scan"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("from") == "" || q.Get("to") <= q.Get("from") {
		t.Errorf("time range from %q to %q", q.Get("from"), q.Get("to"))
	}
}

func TestStatusURLOpensTheAnomalyPage(t *testing.T) {
	v := verdict("port_scan", "a-*", w1, 0.9, nil)
	tests := []struct{ base, want string }{
		{"", ""},
		{"http://exporter:9925/", "http://exporter:9925/anomaly?cluster=c1&detector=port_scan&namespace=shop&type=wep&workload=a-%2A"},
		{"https://x.example/prefix", "https://x.example/prefix/anomaly?cluster=c1&detector=port_scan&namespace=shop&type=wep&workload=a-%2A"},
	}
	for _, tt := range tests {
		if got := StatusURL(tt.base, v); got != tt.want {
			t.Errorf("StatusURL(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

// TestPolicyFromConfiguration: per-detector score thresholds, silences
// with an end and configured texts decide and word the alerts.
func TestPolicyFromConfiguration(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	v := func(det, ns, wl string, score float64) detect.Verdict {
		return detect.Verdict{Detector: det, Entity: detect.Entity{Cluster: "c", Namespace: ns, Workload: wl, Type: "wep"}, Score: score, Threshold: 0.5}
	}
	p := Policy{
		Severity:         100,
		DetectorMinScore: map[string]float64{"generic_flows": 0.8},
		Muted: func(det, ns, wl string, at time.Time) bool {
			return det == "port_scan" && ns == "kube-system" && at.Before(now.Add(time.Hour))
		},
		Texts: map[string]Text{"ip_sweep": {Summary: "IP Sweep detection", Description: "Looks for pods sending packets to many destinations."}},
		Now:   func() time.Time { return now },
	}
	for _, tc := range []struct {
		name string
		v    detect.Verdict
		want bool
	}{
		{"above the detector's own score threshold", v("generic_flows", "shop", "a-*", 0.85), true},
		{"anomalous but under the detector's score threshold", v("generic_flows", "shop", "a-*", 0.7), false},
		{"a silenced namespace", v("port_scan", "kube-system", "probe-*", 0.9), false},
		{"another namespace of a silenced detector", v("port_scan", "shop", "probe-*", 0.9), true},
		{"under the detector's threshold", v("ip_sweep", "shop", "b-*", 0.4), false},
	} {
		if got := p.Alerts(tc.v); got != tc.want {
			t.Errorf("%s: Alerts %t, want %t", tc.name, got, tc.want)
		}
	}
	later := p
	later.Now = func() time.Time { return now.Add(2 * time.Hour) }
	if !later.Alerts(v("port_scan", "kube-system", "probe-*", 0.9)) {
		t.Error("a silence still holds after its end")
	}
	as := Group(p, []detect.Verdict{v("ip_sweep", "shop", "b-*", 0.9)})
	if len(as) != 1 {
		t.Fatalf("%d anomalies, want 1", len(as))
	}
	if got := as[0].Title(); got != "IP Sweep detection: shop/b-*" {
		t.Errorf("title %q", got)
	}
	if got := as[0].Description(); !strings.HasPrefix(got, "Looks for pods sending packets to many destinations. ip_sweep detector found anomalies") {
		t.Errorf("description %q", got)
	}
	if err := (Policy{DetectorMinScore: map[string]float64{"dga": 1.5}}).Validate(); err == nil || !strings.Contains(err.Error(), "dga") {
		t.Errorf("a score threshold above 1 was accepted: %v", err)
	}
	live := NewLivePolicy(p)
	live.Set(Policy{Severity: 40})
	if live.Get().Severity != 40 {
		t.Error("LivePolicy.Set did not take effect")
	}
}
