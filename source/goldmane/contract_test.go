package goldmane

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanesim"
)

// What the contract test proves, and what it does not: the exporter's gRPC
// client and an in-process server generated from the same goldmane.proto
// agree (service and method names, messages, field numbers, Goldmane's
// Stream and List semantics as its API documents them), over a real
// loopback TCP connection; it does not prove a real Goldmane behaves as
// documented, since no Goldmane binary can be built here.

// manualClock is a clock the test moves; Sleep waits until it has moved
// far enough.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	changed chan struct{}
}

func newManualClock(t time.Time) *manualClock {
	return &manualClock{now: t, changed: make(chan struct{})}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	until := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		now, changed := c.now, c.changed
		c.mu.Unlock()
		if !now.Before(until) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// goldmaneProcess is one in-process Goldmane on a fixed loopback address,
// which the test can stop and start again (numbering flows afresh).
type goldmaneProcess struct {
	t      *testing.T
	addr   string
	gen    goldmanesim.Generator
	clock  *manualClock
	server *goldmanesim.Server
	grpc   *grpc.Server
}

func (p *goldmaneProcess) start(idBase int64) {
	p.t.Helper()
	var lis net.Listener
	var err error
	for range 50 { // the port may linger a moment after a stop
		if lis, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("listen on %s: %v", p.addr, err)
	}
	p.addr = lis.Addr().String()
	p.server = goldmanesim.New(p.gen, p.clock.Now, p.clock.Sleep, 48*time.Hour)
	p.server.NumberFrom(idBase)
	p.grpc = grpc.NewServer()
	p.server.Register(p.grpc)
	go func() { _ = p.grpc.Serve(lis) }()
}

func (p *goldmaneProcess) stop() { p.grpc.Stop() }

// floodGenerator adds, to one bucket, a flood of distinct keys (one source
// reaching many named destinations) on top of the simulated cluster.
type floodGenerator struct {
	*goldmanesim.Cluster
	at   int64
	keys int
}

func (g floodGenerator) Bucket(start int64) []*pb.Flow {
	out := g.Cluster.Bucket(start)
	if start != g.at {
		return out
	}
	for i := range g.keys {
		out = append(out, &pb.Flow{
			Key: &pb.FlowKey{SourceName: "crawler-5d9f7c-*", SourceNamespace: "batch", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: fmt.Sprintf("svc-%05d-*", i), DestNamespace: "tenants", DestType: pb.EndpointType_WorkloadEndpoint,
				DestPort: 8080, Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow},
			StartTime: start, EndTime: start + g.BucketSeconds(),
			PacketsOut: 20, BytesOut: 2000, NumConnectionsStarted: 20, NumConnectionsCompleted: 20,
		})
	}
	return out
}

// verdictSink keeps every verdict the engine delivers.
type verdictSink struct {
	mu       sync.Mutex
	verdicts []detect.Verdict
}

func (s *verdictSink) Deliver(_ context.Context, _ source.Window, vs []detect.Verdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verdicts = append(s.verdicts, vs...)
}

func (s *verdictSink) anomalous(detector, namespace, workloadPrefix string, w source.Window) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.verdicts {
		if v.Detector == detector && v.Entity.Namespace == namespace && v.Window == w && v.Anomalous() &&
			len(v.Entity.Workload) >= len(workloadPrefix) && v.Entity.Workload[:len(workloadPrefix)] == workloadPrefix {
			return true
		}
	}
	return false
}

func (s *verdictSink) anomalies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, v := range s.verdicts {
		if v.Anomalous() {
			out = append(out, fmt.Sprintf("%s %s/%s %s", v.Detector, v.Entity.Namespace, v.Entity.Workload, v.Window))
		}
	}
	return out
}

// TestContractStreamFindsScanAndExfiltration plays the simulated cluster
// through an in-process Goldmane: two days of history read with Flows.List,
// then half an hour live over Flows.Stream holding a port scan, an
// exfiltration, a Goldmane restart that renumbers flow ids (the stream
// resumes at the oldest open window and the replayed intervals are not
// counted twice), a late and an out-of-order update, and a flood of
// distinct keys past the bound. The flow detectors must find the scan and
// the exfiltration, and every live window must hold exactly the traffic
// the cluster made.
func TestContractStreamFindsScanAndExfiltration(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a day of history and half an hour live; run without -short")
	}
	const bucket = 5 * time.Minute
	t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	scanWindow := source.Window{Start: t0.Add(5 * time.Minute), End: t0.Add(10 * time.Minute)}
	exfilWindow := source.Window{Start: t0.Add(15 * time.Minute), End: t0.Add(20 * time.Minute)}
	floodAt := t0.Add(25 * time.Minute)
	// One deployment per namespace keeps two days of history quick.
	cluster := simulate.New(simulate.Options{Seed: 7, Cluster: "oss", DeploymentsPerNamespace: 1},
		simulate.PortScan{At: scanWindow.Start.Add(time.Minute), Namespace: "shop", Workload: "frontend",
			TargetNamespace: "payments", TargetWorkload: "payments-api", FirstPort: 1, LastPort: 600},
		simulate.BytesBurst{At: exfilWindow.Start, Duration: 2 * bucket, Namespace: "payments", Workload: "payments-api", Bytes: 3 << 30},
	)
	gen := floodGenerator{Cluster: goldmanesim.NewCluster(cluster), at: floodAt.Unix(), keys: 3000}
	clock := newManualClock(t0)
	proc := &goldmaneProcess{t: t, addr: "127.0.0.1:0", gen: gen, clock: clock}
	proc.start(0)
	defer func() { proc.stop() }()

	conn, err := grpc.NewClient(proc.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const maxKeys = 2000
	src, err := New(Config{Conn: conn, Bucket: bucket, Lag: time.Minute, MaxKeys: maxKeys, Now: clock.Now,
		Retention: 24 * time.Hour, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- src.Run(ctx) }()

	names := []string{"port_scan", "generic_flows"}
	detectors, err := engine.BuildWith(names, engine.BuildOptions{Cluster: "oss", Getenv: func(string) string { return "" },
		Bucket: bucket, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	sink := &verdictSink{}
	eng, err := engine.New(engine.Config{Interval: bucket, Bucket: bucket, Lag: time.Minute, TrainLookback: 49 * time.Hour,
		Sinks: []engine.Sink{sink}, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond},
		src, detectors, scoreboard.New(0), clock, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	// History: two days learned (the seasonal baselines need the same hour
	// of two days) and the last hour judged, all from Flows.List.
	if err := eng.Replay(ctx, t0.Add(-time.Hour), t0); err != nil {
		t.Fatalf("history from Flows.List: %v", err)
	}
	if got := testutil.ToFloat64(src.lists.WithLabelValues("success")); got < 50*12 {
		t.Errorf("%v Flows.List requests for two days of history and an hour judged; want at least %d", got, 50*12)
	}

	// streamed is how many updates the source took from the stream (List
	// answers are counted among the outcomes too).
	streamed := func() int64 {
		counts, _ := src.store.stats()
		var n uint64
		for _, c := range counts {
			n += c
		}
		src.store.mu.Lock()
		defer src.store.mu.Unlock()
		return int64(n - src.store.listed)
	}
	var sentBefore int64 // streamed by the Goldmane processes already stopped
	// settle waits until the server has streamed every slot due and the
	// source has taken in all it sent.
	settle := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			sent, next := proc.server.Progress()
			if next+2*goldmanesim.SlotSeconds > clock.Now().Unix() && streamed() == sent+sentBefore {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		sent, next := proc.server.Progress()
		t.Fatalf("stream did not settle at %s: server sent %d (next slot %s), source took %d",
			clock.Now().UTC(), sent+sentBefore, time.Unix(next, 0).UTC(), streamed())
	}
	waitUp := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for testutil.ToFloat64(src.up) != want {
			if time.Now().After(deadline) {
				t.Fatalf("calico_anomaly_goldmane_up never became %v", want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitUp(1)
	live := []source.Window{}
	for w := t0; w.Before(t0.Add(30 * time.Minute)); w = w.Add(bucket) {
		live = append(live, source.Window{Start: w, End: w.Add(bucket)})
	}
	restartAt := t0.Add(12*time.Minute + 30*time.Second)
	lateSent, outOfOrderSent := false, false
	processed := 0
	for clock.Now().Before(t0.Add(31 * time.Minute)) {
		clock.Advance(goldmanesim.SlotSeconds * time.Second)
		now := clock.Now()
		if now.Equal(restartAt) {
			settle()
			sent, _ := proc.server.Progress()
			sentBefore += sent
			proc.stop()
			waitUp(0)
			// A window due while Goldmane is down is an error, not empty.
			clock.Advance(3 * time.Minute)
			if _, err := src.Aggregate(ctx, live[1], detectors[0].Queries()[0]); err != nil {
				t.Errorf("window %s was read before the restart; got %v", live[1], err)
			}
			if _, err := src.Count(ctx, live[2], calicolog.Flows); err == nil {
				t.Errorf("window %s read as complete while Goldmane was down", live[2])
			}
			proc.start(100000)
			waitUp(1)
		}
		settle()
		if !lateSent && now.After(t0.Add(16*time.Minute)) {
			// Late: an update for a window closed and judged.
			proc.server.Inject(&pb.Flow{Key: &pb.FlowKey{SourceName: "late-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pub", DestType: pb.EndpointType_Network, DestPort: 443, Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow},
				StartTime: t0.Unix(), EndTime: t0.Unix() + 15, BytesOut: 1 << 40, PacketsOut: 1})
			lateSent = true
			proc.clockNudge()
			settle()
		}
		if !outOfOrderSent && now.After(t0.Add(18*time.Minute)) {
			// Out of order: an earlier interval of the open window, after
			// later ones.
			proc.server.Inject(&pb.Flow{Key: &pb.FlowKey{SourceName: "cron-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pub", DestType: pb.EndpointType_Network, DestPort: 873, Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow},
				StartTime: exfilWindow.End.Unix(), EndTime: exfilWindow.End.Unix() + 15, BytesOut: 12345, PacketsOut: 9})
			outOfOrderSent = true
			proc.clockNudge()
			settle()
		}
		for processed < len(live) && !now.Before(live[processed].End.Add(time.Minute)) {
			if err := eng.ProcessWindow(ctx, live[processed]); err != nil {
				t.Fatalf("window %s: %v", live[processed], err)
			}
			processed++
		}
	}
	if processed != len(live) {
		t.Fatalf("processed %d of %d live windows", processed, len(live))
	}

	if !sink.anomalous("port_scan", "shop", "frontend-", scanWindow) {
		t.Errorf("port scan from shop/frontend in %s not found; anomalies: %v", scanWindow, sink.anomalies())
	}
	if !sink.anomalous("generic_flows", "payments", "payments-api-", exfilWindow) {
		t.Errorf("exfiltration from payments/payments-api in %s not found; anomalies: %v", exfilWindow, sink.anomalies())
		for _, v := range sink.verdicts {
			if v.Entity.Namespace == "payments" && v.Window == exfilWindow {
				t.Logf("%s %s score %.3f observed %v expected %v: %s", v.Detector, v.Entity.Workload, v.Score, v.Observed, v.Expected, v.Summary)
			}
		}
	}

	// Every live window holds exactly the cluster's traffic, folded by
	// Goldmane's key: nothing lost to the restart, nothing counted twice.
	bytesOut := source.Query{Name: "bytes", Log: calicolog.Flows,
		GroupBy: []string{"source_namespace", "source_name_aggr", "dest_name_aggr", "dest_port", "reporter"},
		Metrics: []source.Metric{{Name: "bytes_out", Kind: source.Sum, Field: "bytes_out"}, {Name: "packets_in", Kind: source.Sum, Field: "packets_in"}}}
	for _, w := range live {
		if w.Start.Equal(floodAt) {
			continue
		}
		want := source.NewMemory("want")
		for _, f := range gen.Bucket(w.Start.Unix()) {
			k, _, _ := keyOf(f.GetKey())
			var c counters
			c.add(f)
			want.AddFlows(k.flowLog(&c, w.Start.Unix(), w.End.Unix()))
		}
		if w.Start.Equal(exfilWindow.End) {
			f := &pb.Flow{Key: &pb.FlowKey{SourceName: "cron-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pub", DestType: pb.EndpointType_Network, DestPort: 873, Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow},
				StartTime: w.Start.Unix(), EndTime: w.Start.Unix() + 15, BytesOut: 12345, PacketsOut: 9}
			k, _, _ := keyOf(f.GetKey())
			var c counters
			c.add(f)
			want.AddFlows(k.flowLog(&c, w.Start.Unix(), w.End.Unix()))
		}
		wantRows, _ := want.Aggregate(ctx, w, bytesOut)
		gotRows, err := src.Aggregate(ctx, w, bytesOut)
		if err != nil {
			t.Fatalf("window %s: %v", w, err)
		}
		if fmt.Sprint(gotRows) != fmt.Sprint(wantRows) {
			t.Errorf("window %s: %d rows, want %d; the first difference: %s", w, len(gotRows), len(wantRows), firstDiff(gotRows, wantRows))
		}
	}
	counts, _ := src.store.stats()
	if counts[Duplicate] == 0 {
		t.Errorf("no update counted as duplicate: the stream resumed after the restart should have replayed some")
	}
	if counts[Late] != 1 {
		t.Errorf("%d late updates, want the 1 injected", counts[Late])
	}
	if counts[Dropped] == 0 {
		t.Errorf("no update dropped: the flood of %d keys should pass the bound of %d", gen.keys, maxKeys)
	}
	flood, err := src.Count(ctx, source.Window{Start: floodAt, End: floodAt.Add(bucket)}, calicolog.Flows)
	if err != nil {
		t.Fatal(err)
	}
	if flood.Records != maxKeys {
		t.Errorf("the flooded window holds %d flow keys, want the bound %d", flood.Records, maxKeys)
	}
	if got := testutil.ToFloat64(src.reconnect); got < 1 {
		t.Errorf("calico_anomaly_goldmane_reconnects_total %v after a restart, want at least 1", got)
	}
	cancel()
	if err := <-runDone; err != context.Canceled {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}

// clockNudge wakes the server's stream so it sends injected updates.
func (p *goldmaneProcess) clockNudge() { p.clock.Advance(0) }

func firstDiff(got, want []source.Row) string {
	for i := range min(len(got), len(want)) {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			return fmt.Sprintf("got %v, want %v", got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra %v", got[len(want)])
	}
	if len(want) > len(got) {
		return fmt.Sprintf("missing %v", want[len(got)])
	}
	return "none"
}
