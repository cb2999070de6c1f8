package detect

import (
	"fmt"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func TestScanEvidenceAsksForProbedValues(t *testing.T) {
	base := []EvidenceQuery{{Log: "flows", Filters: []source.Term{{Field: "source_name_aggr", Values: []string{"frontend-*"}}}, Limit: 5}}
	var rows []source.Row
	for p := 1; p <= 600; p++ {
		rows = append(rows, source.Row{Key: []string{"shop", "frontend-*", "wep", fmt.Sprint(p)}})
	}
	rows = append(rows, source.Row{Key: []string{"shop", "cart-*", "wep", "9999"}})
	cols := entityFieldColumnsOf(source.Query{Name: "port_scan", GroupBy: []string{"source_namespace", "source_name_aggr", "source_type", "dest_port"}}, "source", "dest_port")
	scanner := Entity{Cluster: "c", Namespace: "shop", Workload: "frontend-*", Type: "wep"}
	got := probedEvidence("dest_port", cols, rows, scanner, base)
	if len(got) != 1 || len(got[0].Filters) != 2 || got[0].Filters[0].Field != "dest_port" {
		t.Fatalf("queries %+v, want the source's filter and one on dest_port", got)
	}
	ports := got[0].Filters[0].Values
	if len(ports) != maxProbedValues || ports[0] != "1" || ports[len(ports)-1] != "571" || strings.Contains(strings.Join(ports, ","), "9999") {
		t.Errorf("ports asked %v, want 20 spread over 1..600 and none of another workload", ports)
	}
	if len(base[0].Filters) != 1 {
		t.Errorf("the detector's own query was changed")
	}
	if same := probedEvidence("dest_port", cols, nil, scanner, base); len(same[0].Filters) != 1 {
		t.Errorf("without rows the query changed: %+v", same)
	}
}
