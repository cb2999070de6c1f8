package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// TestBaselineVerdictsShowTheirFieldsUnit: a field baseline's verdict
// carries the unit of its most anomalous field; the incident and anomaly
// pages show observed and expected in it, and the chart's axis too while
// every window's field has that unit.
func TestBaselineVerdictsShowTheirFieldsUnit(t *testing.T) {
	tests := []struct {
		name               string
		unit               string
		observed, expected float64
		want               []string
	}{
		{"bytes", detect.UnitBytes, 3 << 20, 512, []string{"3.0 MiB", "512 B"}},
		{"latency", detect.UnitNanoseconds, 1.286e8, 2e6, []string{"128.6 ms", "2.0 ms"}},
		{"TCP round trip", detect.UnitMicroseconds, 250000, 900, []string{"250.0 ms", "900 µs"}},
		{"flows", detect.UnitFlows, 1200, 40, []string{"1200 flows", "40 flows"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newIncidentBed(t)
			v := verdict("generic_flows", "shop", "cart-*", 0.95)
			v.Observed, v.Expected, v.Unit = tc.observed, tc.expected, tc.unit
			b.deliver(0, v)
			in, ok := b.tracker.OpenFor(v.Entity)
			if !ok {
				t.Fatal("no incident")
			}
			v.Window = window(0)
			for _, page := range []string{incidentLink(in.ID), anomalyLink(v)} {
				code, body := get(t, b.pages, page)
				if code != http.StatusOK {
					t.Fatalf("%s: status %d", page, code)
				}
				for _, want := range tc.want {
					if !strings.Contains(body, want) {
						t.Errorf("%s lacks %q", page, want)
					}
				}
			}
		})
	}
}

func TestChartUnitIsDroppedWhenTheFieldChanges(t *testing.T) {
	tests := []struct {
		points []Point
		want   string
	}{
		{[]Point{{Unit: "bytes"}, {Unit: "bytes"}}, "bytes"},
		{[]Point{{Unit: "bytes"}, {Unit: "flows"}}, ""},
		{[]Point{{}, {}}, "bytes"}, // points of a detector with one unit
	}
	for _, tc := range tests {
		if got := chartUnit(tc.points, "bytes"); got != tc.want {
			t.Errorf("chartUnit(%+v) = %q, want %q", tc.points, got, tc.want)
		}
	}
}
