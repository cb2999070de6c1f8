package source

import (
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// flowsWithoutIPs carries flow logs without IP fields, as Goldmane does.
type flowsWithoutIPs struct{}

func (flowsWithoutIPs) Carries(t calicolog.LogType, field string) bool {
	return t == calicolog.Flows && field != "dest_ip" && field != "source_ip"
}

func TestMissing(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"a log type not carried", Query{Log: calicolog.DNS, GroupBy: []string{"qname"}}, "dns logs"},
		{"grouped by a missing field", Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace", "dest_ip"}}, "flows field dest_ip"},
		{"filtered on a missing field", Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace"},
			Filters: []Term{{Field: "source_ip", Values: []string{"10.0.0.1"}}}}, "flows field source_ip"},
		{"distinct values of a missing field", Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace"},
			Metrics: []Metric{{Name: "n", Kind: Cardinality, Field: "dest_ip"}}}, "flows field dest_ip"},
		{"a sum of a missing field reads zero", Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace"},
			Metrics: []Metric{{Name: "n", Kind: Sum, Field: "dest_ip"}}}, ""},
		{"everything carried", Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace", "dest_port"},
			Metrics: []Metric{{Name: "n", Kind: Cardinality, Field: "dest_port"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Missing(tt.q, flowsWithoutIPs{}); got != tt.want {
				t.Errorf("Missing = %q, want %q", got, tt.want)
			}
		})
	}
}
