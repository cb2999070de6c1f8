package goldmane

import (
	"fmt"
	"runtime"
	"testing"

	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// realisticKeys makes n distinct flow keys shaped like a cluster's: names
// with pod-template hashes, a namespace, a port, one enforced policy.
func realisticKeys(n int) []*pb.FlowKey {
	keys := make([]*pb.FlowKey, n)
	for i := range keys {
		keys[i] = &pb.FlowKey{
			SourceName: fmt.Sprintf("frontend-%04d-7d4f8b9c5d-*", i/40), SourceNamespace: fmt.Sprintf("team-%02d", i%30),
			SourceType: pb.EndpointType_WorkloadEndpoint,
			DestName:   fmt.Sprintf("backend-%04d-5f6b7c8d9e-*", i%400), DestNamespace: fmt.Sprintf("team-%02d", (i+7)%30),
			DestType: pb.EndpointType_WorkloadEndpoint, DestPort: int64(8000 + i%50), Proto: "tcp",
			DestServiceName: fmt.Sprintf("backend-%04d", i%400), DestServiceNamespace: fmt.Sprintf("team-%02d", (i+7)%30),
			DestServicePortName: "http", DestServicePort: 80,
			Reporter: pb.Reporter(1 + i%2), Action: pb.Action_Allow,
			Policies: &pb.PolicyTrace{EnforcedPolicies: []*pb.PolicyHit{{Kind: pb.PolicyKind_CalicoNetworkPolicy,
				Namespace: fmt.Sprintf("team-%02d", (i+7)%30), Name: "allow-frontend", Tier: "default", Action: pb.Action_Allow}}},
		}
	}
	return keys
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPer1000FlowKeys reports the heap one window holds per
// 1,000 active flow keys: while open (every key updated in each of the 20
// 15-second slots of a 5-minute window) and once closed (one Calico flow
// log record per key). Key names are counted: the store holds them.
func BenchmarkMemoryPer1000FlowKeys(b *testing.B) {
	const n = 10000
	b.ReportAllocs()
	var open, closed float64
	for b.Loop() {
		before := heapInUse()
		s := newStore(300, 0)
		s.through = base
		for slot := range int64(20) {
			// Fresh strings per update, as gRPC decodes every message anew:
			// the store keeps those of each key's first update.
			for _, k := range realisticKeys(n) {
				s.add(&pb.Flow{Key: k, StartTime: base + slot*15, EndTime: base + slot*15 + 15,
					BytesIn: 1200, BytesOut: 800, PacketsIn: 10, PacketsOut: 8, NumConnectionsStarted: 1, NumConnectionsCompleted: 1})
			}
		}
		afterOpen := heapInUse()
		s.closeThrough(base + 300)
		afterClose := heapInUse()
		open = float64(afterOpen-before) / (n / 1000)
		closed = float64(afterClose-before) / (n / 1000)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(open, "open-bytes/1000keys")
	b.ReportMetric(closed, "closed-bytes/1000keys")
}
