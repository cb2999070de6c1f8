package nab

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// How a series becomes flow logs.
const (
	// SeriesNamespace holds the series' workload and nothing else, so the
	// namespace-level detectors judge the series alone.
	SeriesNamespace = "nab"
	seriesWorkload  = "series"
	// MedianBytes is what the median value of the learned span becomes:
	// the values are scaled to bytes per window around it.
	MedianBytes = 1 << 20
	// bytesPerFlow and bytesPerPacket derive the flow and packet counters
	// from the bytes; replyShare is the share of the bytes going the other
	// way (replies).
	bytesPerFlow   = 50_000
	bytesPerPacket = 1_000
	replyShare     = 0.125
	// neighbours is how many steady workloads run beside the series, each
	// in a namespace of its own.
	neighbours = 3
	// podsPerWorkload is the pods the bytes of a workload are split over.
	podsPerWorkload = 2
)

// layout places a series' rows in the engine's windows: row i falls in
// window index[i], counted from base. Rows are placed by their distance
// from the first row, rounded to whole buckets, so a series sampled a
// little off the bucket grid (14:27, 14:32, ...) keeps one sample per
// window.
type layout struct {
	base   time.Time
	bucket time.Duration
	index  []int
	// values are the rows' values as bytes (shifted and scaled, see
	// newLayout); bytes are the windows' bytes: the mean of the window's
	// rows, or, for a window no row fell in, the window before's.
	values  []float64
	bytes   []int64
	windows int
}

// newLayout lays out s: its values, shifted up by the lowest value when
// that is negative (bytes are never negative), are scaled so that the
// median of the learned span (the rows before learnedUntil) is
// MedianBytes, or, when that median is zero, so that the mean of its
// non-zero values is; a series that is zero throughout stays zero.
func newLayout(s *Series, bucket, learned time.Duration) *layout {
	first := s.Rows[0].Time
	l := &layout{base: first.Truncate(bucket), bucket: bucket, index: make([]int, len(s.Rows)), values: make([]float64, len(s.Rows))}
	shift := 0.0
	for _, r := range s.Rows {
		shift = max(shift, -r.Value)
	}
	var early, positive []float64
	for _, r := range s.Rows {
		if r.Time.Sub(first) < learned {
			early = append(early, r.Value+shift)
		}
		if r.Value+shift > 0 {
			positive = append(positive, r.Value+shift)
		}
	}
	ref := median(early)
	if ref <= 0 {
		ref = mean(nonZero(early))
	}
	if ref <= 0 {
		ref = mean(positive)
	}
	scale := 1.0
	if ref > 0 {
		scale = MedianBytes / ref
	}
	for i, r := range s.Rows {
		l.index[i] = int(math.Round(float64(r.Time.Sub(first)) / float64(bucket)))
		l.values[i] = (r.Value + shift) * scale
	}
	l.windows = l.index[len(l.index)-1] + 1
	sums := make([]float64, l.windows)
	counts := make([]int, l.windows)
	for i, k := range l.index {
		sums[k] += l.values[i]
		counts[k]++
	}
	l.bytes = make([]int64, l.windows)
	var last int64
	for k := range sums {
		if counts[k] > 0 {
			last = int64(math.Round(sums[k] / float64(counts[k])))
		}
		l.bytes[k] = last
	}
	return l
}

// rowFlags maps the windows flagged (hits, by window index) to the rows
// of the series from row from on: a row is flagged when a window from its
// own up to the next row's is, the windows its value is held over (a
// series sampled every hour holds each value for twelve windows, and a
// verdict on any of them is about that value). A row is dated by its
// sample, so a flag later in the span counts from the sample's time.
func (l *layout) rowFlags(hits []bool, from int) []bool {
	flags := make([]bool, len(l.index))
	for i := max(from, 0); i < len(l.index); i++ {
		k, end := l.index[i], l.windows
		if i+1 < len(l.index) {
			end = max(l.index[i+1], k+1)
		}
		for w := k; w < end && w < len(hits); w++ {
			if hits[w] {
				flags[i] = true
				break
			}
		}
	}
	return flags
}

// window is the engine window of index k.
func (l *layout) window(k int) source.Window {
	start := l.base.Add(time.Duration(k) * l.bucket)
	return source.Window{Start: start, End: start.Add(l.bucket)}
}

// end is the end of the last window.
func (l *layout) end() time.Time { return l.base.Add(time.Duration(l.windows) * l.bucket) }

// flowLogs returns the flow logs of the series and its steady neighbours:
// per window, each pod of the series' workload sends its share of the
// bytes to a public address and receives as much from one (so both the
// source's and the destination's counters carry the series), with
// replies of replyShare, a flow per bytesPerFlow and a packet per
// bytesPerPacket. A window of zero bytes has no record at all, as a
// silent workload has none. The neighbours move about MedianBytes with
// a mild daily swing and a few percent of noise, the same for every
// series (seed).
func (l *layout) flowLogs(seed uint64) []calicolog.FlowLog {
	out := make([]calicolog.FlowLog, 0, l.windows*4*(1+neighbours))
	for k := 0; k < l.windows; k++ {
		w := l.window(k)
		out = appendWorkload(out, w, SeriesNamespace, seriesWorkload, 0, l.bytes[k])
		r := rand.New(rand.NewPCG(seed, uint64(k)))
		hour := float64(w.Start.Hour()) + float64(w.Start.Minute())/60
		for n := 1; n <= neighbours; n++ {
			swing := 1 + 0.2*math.Sin(2*math.Pi*(hour/24+float64(n)/neighbours))
			b := int64(MedianBytes * swing * math.Exp(0.05*r.NormFloat64()))
			out = appendWorkload(out, w, "steady-"+strconv.Itoa(n), "steady", n, b)
		}
	}
	return out
}

// appendWorkload appends the records of one workload's pods for one
// window: an outbound and an inbound flow per pod.
func appendWorkload(out []calicolog.FlowLog, w source.Window, namespace, workload string, n int, bytes int64) []calicolog.FlowLog {
	if bytes <= 0 {
		return out
	}
	aggr := workload + "-5d8f9c7b6-*"
	end := w.End.Add(-time.Second)
	for p := 0; p < podsPerWorkload; p++ {
		share := bytes / podsPerWorkload
		if p == 0 {
			share += bytes % podsPerWorkload
		}
		if share <= 0 {
			continue
		}
		pod := workload + "-5d8f9c7b6-" + string(rune('a'+p)) + "x7k2"
		ip := "10.1." + strconv.Itoa(n) + "." + strconv.Itoa(10+p)
		reply := int64(float64(share) * replyShare)
		flows := max(1, int64(math.Round(float64(share)/bytesPerFlow)))
		packets := func(b int64) int64 { return (b + bytesPerPacket - 1) / bytesPerPacket }
		base := calicolog.FlowLog{
			StartTime: calicolog.EpochSeconds(w.Start.Unix()), EndTime: calicolog.EpochSeconds(end.Unix()),
			Timestamp: calicolog.EpochMillis(end.UnixMilli()), Action: "allow", Proto: "tcp",
			NumFlows: flows, NumFlowsStarted: flows, NumFlowsCompleted: flows,
			DestServiceName: calicolog.Aggregated, DestServiceNamespace: calicolog.Aggregated, DestServicePort: calicolog.Aggregated,
			ProcessName: calicolog.Aggregated, ProcessID: calicolog.Aggregated,
		}
		podIP, pub := ip, "203.0.113.10"
		port := int64(443)
		outbound := base
		outbound.Reporter = "src"
		outbound.SourceIP, outbound.SourceName, outbound.SourceNameAggr, outbound.SourceNamespace, outbound.SourceType = &podIP, pod, aggr, namespace, calicolog.TypeWorkload
		outbound.DestIP, outbound.DestName, outbound.DestNameAggr, outbound.DestNamespace, outbound.DestType = &pub, calicolog.Aggregated, calicolog.NamePublic, calicolog.Aggregated, calicolog.TypeNetwork
		outbound.DestPort = &port
		outbound.BytesOut, outbound.BytesIn = share, reply
		outbound.PacketsOut, outbound.PacketsIn = packets(share), packets(reply)
		inbound := base
		inbound.Reporter = "dst"
		inbound.SourceIP, inbound.SourceName, inbound.SourceNameAggr, inbound.SourceNamespace, inbound.SourceType = &pub, calicolog.Aggregated, calicolog.NamePublic, calicolog.Aggregated, calicolog.TypeNetwork
		inbound.DestIP, inbound.DestName, inbound.DestNameAggr, inbound.DestNamespace, inbound.DestType = &podIP, pod, aggr, namespace, calicolog.TypeWorkload
		inbound.DestPort = &port
		inbound.BytesIn, inbound.BytesOut = share, reply
		inbound.PacketsIn, inbound.PacketsOut = packets(share), packets(reply)
		out = append(out, outbound, inbound)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func nonZero(xs []float64) []float64 {
	var out []float64
	for _, x := range xs {
		if x != 0 {
			out = append(out, x)
		}
	}
	return out
}
