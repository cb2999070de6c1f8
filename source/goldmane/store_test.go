package goldmane

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

var base = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC).Unix()

func testKey(port int64) *pb.FlowKey {
	return &pb.FlowKey{SourceName: "web-6d8f9-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
		DestName: "db-7c5d4-*", DestNamespace: "shop", DestType: pb.EndpointType_WorkloadEndpoint, DestPort: port,
		Proto: "TCP", Reporter: pb.Reporter_Src, Action: pb.Action_Allow}
}

func update(port, start, bytesOut int64) *pb.Flow {
	return &pb.Flow{Key: testKey(port), StartTime: start, EndTime: start + 15, BytesOut: bytesOut, PacketsOut: 1, NumConnectionsStarted: 1}
}

func TestStoreOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		updates   []*pb.Flow
		closeAt   int64 // closeThrough before the last update, when set
		want      []Outcome
		wantBytes int64 // bytes_out of port 5432 in the first window
	}{
		{"intervals of one key add up", []*pb.Flow{update(5432, base, 10), update(5432, base+15, 20)},
			0, []Outcome{Accepted, Accepted}, 30},
		{"a replayed interval is counted once", []*pb.Flow{update(5432, base, 10), update(5432, base+15, 20), update(5432, base, 10)},
			0, []Outcome{Accepted, Accepted, Duplicate}, 30},
		{"out of order within the open window is kept", []*pb.Flow{update(5432, base+285, 5), update(5432, base, 7)},
			0, []Outcome{Accepted, Accepted}, 12},
		{"an update of a closed window is late", []*pb.Flow{update(5432, base, 10), update(5432, base+15, 99)},
			base + 300, []Outcome{Accepted, Late}, 10},
		{"a key without a source name is malformed", []*pb.Flow{update(5432, base, 10),
			{Key: &pb.FlowKey{DestName: "db", Reporter: pb.Reporter_Src}, StartTime: base, EndTime: base + 15}},
			0, []Outcome{Accepted, Malformed}, 10},
		{"an update without a key is malformed", []*pb.Flow{{StartTime: base, EndTime: base + 15}}, 0, []Outcome{Malformed}, 0},
		{"an update ending before it starts is malformed", []*pb.Flow{{Key: testKey(1), StartTime: base + 15, EndTime: base}}, 0, []Outcome{Malformed}, 0},
		{"negative counters read zero", []*pb.Flow{update(5432, base, -10)}, 0, []Outcome{Accepted}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(300, 0)
			s.through = base
			var got []Outcome
			for i, f := range tt.updates {
				if tt.closeAt != 0 && i == len(tt.updates)-1 {
					s.closeThrough(tt.closeAt)
				}
				got = append(got, s.add(f))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
			s.closeThrough(base + 300)
			w := source.Window{Start: time.Unix(base, 0), End: time.Unix(base+300, 0)}
			m, err := s.memory(w)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := m.Aggregate(context.Background(), w, source.Query{Name: "b", Log: calicolog.Flows,
				GroupBy: []string{"dest_port"}, Filters: []source.Term{{Field: "dest_port", Values: []string{"5432"}}},
				Metrics: []source.Metric{{Name: "bytes_out", Kind: source.Sum, Field: "bytes_out"}}})
			if err != nil {
				t.Fatal(err)
			}
			var gotBytes int64
			for _, r := range rows {
				gotBytes += int64(r.Values[0])
			}
			if gotBytes != tt.wantBytes {
				t.Errorf("bytes_out %d, want %d", gotBytes, tt.wantBytes)
			}
		})
	}
}

// A flood of distinct keys stops at the bound; updates of keys already
// held are still counted.
func TestStoreBoundsKeysPerWindow(t *testing.T) {
	s := newStore(300, 100)
	s.through = base
	for p := range int64(1000) {
		s.add(update(p, base, 1))
	}
	if o := s.add(update(7, base+15, 1)); o != Accepted {
		t.Errorf("a held key's next interval: %v, want accepted", o)
	}
	counts, open := s.stats()
	if open != 100 || counts[Dropped] != 900 || counts[Accepted] != 101 {
		t.Errorf("open keys %d, dropped %d, accepted %d; want 100, 900, 101", open, counts[Dropped], counts[Accepted])
	}
}

// Windows with no update at all close empty (zero rows), and a window
// still open is not answered.
func TestStoreClosesEmptyWindows(t *testing.T) {
	s := newStore(300, 0)
	s.through = base
	s.closeThrough(base + 900 + 10)
	for start := base; start < base+900; start += 300 {
		if !s.has(start) {
			t.Errorf("window at %d not closed", start-base)
		}
	}
	if s.has(base + 900) {
		t.Errorf("the window still open reads as closed")
	}
	if _, err := s.memory(source.Window{Start: time.Unix(base+900, 0), End: time.Unix(base+1200, 0)}); err == nil {
		t.Errorf("an open window was answered")
	}
}

// The flow log record written for a key: names as Calico's aggregated
// names, no IPs, Calico's spellings of types, reporter, action and
// policies.
func TestFlowLogOfKey(t *testing.T) {
	k := testKey(5432)
	k.SourceNamespace = ""
	k.SourceType = pb.EndpointType_Network
	k.SourceName = "pub"
	k.Action = pb.Action_Deny
	k.Policies = &pb.PolicyTrace{EnforcedPolicies: []*pb.PolicyHit{
		{Kind: pb.PolicyKind_CalicoNetworkPolicy, Namespace: "shop", Name: "db-ingress", Tier: "default", Action: pb.Action_Deny, PolicyIndex: 0, RuleIndex: 2},
	}}
	fk, _, ok := keyOf(k)
	if !ok {
		t.Fatal("key refused")
	}
	var c counters
	c.add(&pb.Flow{Key: k, StartTime: base, EndTime: base + 15, BytesIn: 5, PacketsIn: 1, NumConnectionsStarted: 3, NumConnectionsLive: 5})
	f := fk.flowLog(&c, base, base+300)
	if err := f.Validate(); err != nil {
		t.Fatalf("record breaks the flow log contract: %v", err)
	}
	got := fmt.Sprintf("%s %s %s %s %s %s %d %s %s %v %v %d %d", f.SourceNameAggr, f.SourceNamespace, f.SourceType, f.SourceName,
		f.DestNameAggr, f.DestType, *f.DestPort, f.Proto, f.Action, f.Policies.AllPolicies, f.SourceIP == nil && f.DestIP == nil, f.NumFlows, f.EndTime)
	want := fmt.Sprintf("pub - net - db-7c5d4-* wep 5432 tcp deny [0|default|shop/db-ingress|deny|2] true 5 %d", base+299)
	if got != want {
		t.Errorf("record\n got %s\nwant %s", got, want)
	}
}
