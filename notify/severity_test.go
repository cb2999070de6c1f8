package notify

import (
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

func TestSeverityLabelFollowsFamilyAndScore(t *testing.T) {
	verdict := func(detector string, score, threshold float64) detect.Verdict {
		return detect.Verdict{Detector: detector, Score: score, Threshold: threshold}
	}
	byFamily := Policy{Severity: 100, SeverityByFamily: true}
	for _, tc := range []struct {
		name   string
		policy Policy
		v      detect.Verdict
		want   string
	}{
		{"a port scan just over its count threshold is a warning", byFamily, verdict("port_scan", 0.55, 0.5), "warning"},
		{"a port scan at three times its count is critical", byFamily, verdict("port_scan", 0.75, 0.5), "critical"},
		{"a generic_flows anomaly is information", byFamily, verdict("generic_flows", 0.8, 0.7), "info"},
		{"a generic_flows anomaly far above its threshold is a warning", byFamily, verdict("generic_flows", 0.86, 0.7), "warning"},
		{"a detector of both families counts as security", byFamily, verdict("dns_latency", 0.99, 0.8), "critical"},
		{"a configured severity decides every label", Policy{Severity: 100}, verdict("generic_flows", 0.71, 0.7), "critical"},
		{"a configured low severity too", Policy{Severity: 50}, verdict("port_scan", 0.99, 0.5), "warning"},
		{"a detector's own severity wins over the family", Policy{Severity: 100, SeverityByFamily: true, DetectorSeverity: map[string]int{"port_scan": 30}},
			verdict("port_scan", 0.99, 0.5), "info"},
	} {
		if got := tc.policy.SeverityLabelOf(tc.v); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
