package goldmane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/backoff"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// Kind is the Kind of a Goldmane source.
const Kind = "goldmane"

// Config sets up a Source.
type Config struct {
	// Conn reaches Goldmane's gRPC Flows service; nil for a source fed only
	// by the emitter's pushes (then windows before the source started, which
	// only Flows.List could give, read as empty).
	Conn grpc.ClientConnInterface
	// Bucket is the window alignment (Calico's 5-minute buckets).
	Bucket time.Duration
	// Lag is how long after a bucket ends its updates are taken as complete
	// (Goldmane sends a 15-second interval about 30 s after it began).
	Lag time.Duration
	// MaxKeys bounds the flow keys one bucket holds; updates bringing more
	// are dropped and counted. 0 means no bound.
	MaxKeys int
	// Retention is how long closed buckets are kept for the engine to read
	// (and re-read after a failure); one forgotten is read again with
	// Flows.List when asked for. 0 means three buckets.
	Retention time.Duration
	// PageSize is the number of flows asked per Flows.List page.
	PageSize int64
	// BackoffMin and BackoffMax bound the wait before reconnecting.
	BackoffMin, BackoffMax time.Duration
	// Now is the clock (the simulated cluster runs faster than real time).
	Now func() time.Time
	// MaxPushBytes bounds one push of the emitter; 0 means DefaultMaxPushBytes.
	MaxPushBytes int64
}

// DefaultMaxKeys bounds the flow keys of one window by default: about
// 25 MB a window at 500 bytes a key, so a flood of keys cannot push the
// exporter past its memory limit with the few windows held at once.
const DefaultMaxKeys = 50000

func (c *Config) setDefaults() error {
	if c.Bucket <= 0 {
		c.Bucket = 5 * time.Minute
	}
	if c.Bucket%time.Second != 0 || c.Bucket < slotSeconds*time.Second {
		return fmt.Errorf("goldmane: bucket %s must be whole seconds and at least Goldmane's 15 s interval", c.Bucket)
	}
	if c.Lag < 0 {
		return fmt.Errorf("goldmane: negative lag %s", c.Lag)
	}
	if c.MaxKeys < 0 {
		return fmt.Errorf("goldmane: negative key bound %d", c.MaxKeys)
	}
	if c.Retention <= 0 {
		c.Retention = 3 * c.Bucket
	}
	if c.PageSize <= 0 {
		c.PageSize = 1000
	}
	c.BackoffMin, c.BackoffMax = backoff.Bounds(c.BackoffMin, c.BackoffMax, time.Second, 30*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxPushBytes <= 0 {
		c.MaxPushBytes = DefaultMaxPushBytes
	}
	return nil
}

// Source answers the flow detectors' queries from Goldmane's flows. Run
// follows Flows.Stream; Handler accepts the emitter's pushes. A window is
// answered once every bucket of it is closed: covered by a stream that
// stayed connected until the bucket's end plus the lag (or by pushes, in
// push mode), or read whole with Flows.List (history, and buckets before
// the stream began). A window still open, or one the stream missed while
// it was down, is an error for the engine to retry, never an empty window.
type Source struct {
	cfg    Config
	logger log.Logger
	flows  pb.FlowsClient
	store  *store
	// liveFrom is where the first stream began (or, in push mode, when the
	// source was made), Unix s: buckets before it are read with List.
	liveFrom int64

	mu        sync.Mutex
	connected bool  // a stream is up (always true in push mode)
	since     int64 // start_time_gte of the current stream, Unix s
	up        prometheus.Gauge
	reconnect prometheus.Counter
	lists     *prometheus.CounterVec
	updates   *prometheus.Desc
	openKeys  *prometheus.Desc
	pushes    *prometheus.CounterVec
}

var _ source.Source = (*Source)(nil)

// New returns a Source; call Run to follow Goldmane's stream (with a
// Conn), or serve Handler for the emitter's pushes.
func New(cfg Config, logger log.Logger) (*Source, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	s := &Source{cfg: cfg, logger: logger, store: newStore(int64(cfg.Bucket/time.Second), cfg.MaxKeys)}
	if cfg.Conn != nil {
		s.flows = pb.NewFlowsClient(cfg.Conn)
	} else {
		s.connected = true
	}
	now := cfg.Now()
	// The stream is asked from the start of the next bucket, so every
	// bucket it covers is whole; the current one is read with Flows.List
	// once it has closed. Pushes are taken from the bucket still within
	// the lag, which the emitter may be about to send.
	s.liveFrom = s.store.bucketOf(now.Unix()) + s.store.bucket
	if cfg.Conn == nil {
		s.liveFrom = s.store.bucketOf(now.Add(-cfg.Lag).Unix())
	}
	s.since = s.liveFrom
	s.store.through = s.liveFrom
	s.up = prometheus.NewGauge(prometheus.GaugeOpts{Name: "calico_anomaly_goldmane_up",
		Help: "1 while the exporter follows Goldmane's Flows.Stream (or accepts the emitter's pushes), 0 while it reconnects."})
	s.reconnect = prometheus.NewCounter(prometheus.CounterOpts{Name: "calico_anomaly_goldmane_reconnects_total",
		Help: "Times the stream from Goldmane broke and was reopened, resuming at the oldest open window."})
	s.lists = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calico_anomaly_goldmane_list_requests_total",
		Help: "Flows.List requests for windows the stream did not cover (history at start), by result."}, []string{"result"})
	s.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calico_anomaly_goldmane_emitter_pushes_total",
		Help: "NDJSON pushes from Goldmane's emitter, by HTTP status code answered."}, []string{"code"})
	s.updates = prometheus.NewDesc("calico_anomaly_goldmane_flow_updates_total",
		"Flow updates received from Goldmane, by what became of them (accepted, duplicate, late, dropped past the key bound, malformed).",
		[]string{"result"}, nil)
	s.openKeys = prometheus.NewDesc("calico_anomaly_goldmane_open_flow_keys",
		"Flow keys held in windows not yet closed.", nil, nil)
	if cfg.Conn == nil {
		s.up.Set(1)
	}
	return s, nil
}

// Kind is "goldmane".
func (s *Source) Kind() string { return Kind }

// Describe implements prometheus.Collector.
func (s *Source) Describe(ch chan<- *prometheus.Desc) {
	s.up.Describe(ch)
	s.reconnect.Describe(ch)
	s.lists.Describe(ch)
	s.pushes.Describe(ch)
	ch <- s.updates
	ch <- s.openKeys
}

// Collect implements prometheus.Collector.
func (s *Source) Collect(ch chan<- prometheus.Metric) {
	s.up.Collect(ch)
	s.reconnect.Collect(ch)
	s.lists.Collect(ch)
	s.pushes.Collect(ch)
	counts, open := s.store.stats()
	for o := Outcome(0); o < outcomes; o++ {
		ch <- prometheus.MustNewConstMetric(s.updates, prometheus.CounterValue, float64(counts[o]), o.String())
	}
	ch <- prometheus.MustNewConstMetric(s.openKeys, prometheus.GaugeValue, float64(open))
}

// Add counts one flow update (from the stream, the emitter or a test).
// An update far ahead of the clock is malformed: it would hold a window
// open that no clock closes soon.
func (s *Source) Add(f *pb.Flow) Outcome {
	if f.GetStartTime() > s.cfg.Now().Add(2*s.cfg.Bucket).Unix() {
		return s.store.count(Malformed)
	}
	return s.store.add(f)
}

// advance closes the buckets that are complete now.
func (s *Source) advance() {
	s.mu.Lock()
	connected, since := s.connected, s.since
	s.mu.Unlock()
	if !connected {
		return
	}
	complete := s.cfg.Now().Add(-s.cfg.Lag).Unix()
	if since <= s.store.bucketOf(complete) {
		s.store.closeThrough(complete)
	}
	s.store.prune(s.cfg.Now().Add(-s.cfg.Retention).Unix())
}

// window returns the records of w once every bucket of it is closed,
// reading those before the stream began with Flows.List.
func (s *Source) window(ctx context.Context, w source.Window) (*source.Memory, error) {
	if w.Start.Unix()%s.store.bucket != 0 || w.End.Unix()%s.store.bucket != 0 || !w.End.After(w.Start) {
		return nil, fmt.Errorf("goldmane: window %s is not aligned to %s buckets", w, s.cfg.Bucket)
	}
	s.advance()
	for start := w.Start.Unix(); start < w.End.Unix(); start += s.store.bucket {
		if s.store.has(start) {
			continue
		}
		s.store.mu.Lock()
		through := s.store.through
		s.store.mu.Unlock()
		switch {
		case start+s.store.bucket <= s.liveFrom || start+s.store.bucket <= through:
			// Before the stream began, or closed and since forgotten:
			// Goldmane holds what exists of it.
			if err := s.list(ctx, start); err != nil {
				return nil, err
			}
		default:
			s.mu.Lock()
			connected := s.connected
			s.mu.Unlock()
			if !connected {
				return nil, fmt.Errorf("goldmane: window %s not complete: the stream from Goldmane is down (reconnecting)", w)
			}
			return nil, fmt.Errorf("goldmane: window %s not complete until %s", w,
				time.Unix(start+s.store.bucket, 0).Add(s.cfg.Lag).UTC().Format(time.RFC3339))
		}
	}
	return s.store.memory(w)
}

// list reads the bucket starting at start whole with Flows.List, page by
// page, and stores it closed. Without a gRPC connection (push mode) the
// bucket is stored empty: the emitter sends no history.
func (s *Source) list(ctx context.Context, start int64) error {
	if s.flows == nil {
		s.store.fill(start, nil)
		return nil
	}
	var flows []*pb.Flow
	for page := int64(0); ; page++ {
		res, err := s.flows.List(ctx, &pb.FlowListRequest{
			StartTimeGte: start, StartTimeLt: start + s.store.bucket,
			Page: page, PageSize: s.cfg.PageSize, AggregationInterval: s.store.bucket,
		})
		if err != nil {
			s.lists.WithLabelValues("error").Inc()
			return fmt.Errorf("goldmane: Flows.List for %s: %w", time.Unix(start, 0).UTC().Format(time.RFC3339), err)
		}
		for _, r := range res.GetFlows() {
			if f := r.GetFlow(); f != nil {
				flows = append(flows, f)
			}
		}
		if page+1 >= res.GetMeta().GetTotalPages() || len(res.GetFlows()) == 0 {
			break
		}
	}
	s.lists.WithLabelValues("success").Inc()
	s.store.fill(start, flows)
	return nil
}

// Aggregate answers q over window w.
func (s *Source) Aggregate(ctx context.Context, w source.Window, q source.Query) ([]source.Row, error) {
	if q.Log != calicolog.Flows {
		return nil, fmt.Errorf("goldmane: query %s reads %s logs; Goldmane carries flows only", q.Name, q.Log)
	}
	m, err := s.window(ctx, w)
	if err != nil {
		return nil, err
	}
	return m.Aggregate(ctx, w, q)
}

// Count counts the flow records (one per flow key) of w; DNS and L7 logs
// are never carried and count zero.
func (s *Source) Count(ctx context.Context, w source.Window, t calicolog.LogType) (source.Counts, error) {
	if t != calicolog.Flows {
		return source.Counts{}, nil
	}
	m, err := s.window(ctx, w)
	if err != nil {
		return source.Counts{}, err
	}
	return m.Count(ctx, w, t)
}

// Samples returns up to n flow records of w matching filters.
func (s *Source) Samples(ctx context.Context, w source.Window, t calicolog.LogType, filters []source.Term, n int) ([]json.RawMessage, error) {
	if t != calicolog.Flows {
		return nil, nil
	}
	m, err := s.window(ctx, w)
	if err != nil {
		return nil, err
	}
	return m.Samples(ctx, w, t, filters, n)
}

// Run follows Flows.Stream until ctx ends, reconnecting with backoff and
// resuming at the oldest bucket not yet closed, so an outage shorter than
// Goldmane's retention loses nothing. It returns ctx's error.
func (s *Source) Run(ctx context.Context) error {
	if s.flows == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	retry := backoff.New(s.cfg.BackoffMin, s.cfg.BackoffMax)
	for {
		from := s.resumePoint()
		began := time.Now()
		err := s.follow(ctx, from)
		s.setConnected(false, 0)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(began) > 4*retry.Current() {
			retry.Reset()
		}
		s.reconnect.Inc()
		wait := retry.Next()
		level.Warn(s.logger).Log("msg", "stream from Goldmane broke; reconnecting", "resume_at", time.Unix(from, 0).UTC(), "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// resumePoint is the start of the oldest bucket not yet closed.
func (s *Source) resumePoint() int64 {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return s.store.through
}

func (s *Source) setConnected(up bool, since int64) {
	s.mu.Lock()
	s.connected = up
	if up {
		s.since = since
	}
	s.mu.Unlock()
	if up {
		s.up.Set(1)
	} else {
		s.up.Set(0)
	}
}

// follow reads one stream until it breaks.
func (s *Source) follow(ctx context.Context, from int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.flows.Stream(ctx, &pb.FlowStreamRequest{StartTimeGte: from, AggregationInterval: slotSeconds})
	if err != nil {
		return err
	}
	if _, err := stream.Header(); err != nil {
		return err
	}
	s.setConnected(true, from)
	level.Info(s.logger).Log("msg", "following Goldmane's flow stream", "from", time.Unix(from, 0).UTC())
	// Close buckets on time even when no flow arrives.
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.advance()
			}
		}
	}()
	for {
		res, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the Goldmane stream ended")
			}
			return err
		}
		s.Add(res.GetFlow())
	}
}
