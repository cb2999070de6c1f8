// Package goldmanesim is an in-process Goldmane: a gRPC Flows service
// speaking Goldmane's contract (List and Stream, 15-second updates, ids
// numbered per process) over flows that a Generator makes, such as the
// built-in simulated cluster. It backs --source=goldmane-simulated and the
// contract tests of package goldmane; it is not Goldmane, whose module the
// Go module proxy does not serve.
package goldmanesim

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// SlotSeconds is Goldmane's aggregation interval.
const SlotSeconds = 15

// Generator makes the flows of one bucket: one Flow per key with the
// bucket's totals and the bucket's start and end times.
type Generator interface {
	// Bucket returns the flows of the bucket starting at start (Unix s).
	Bucket(start int64) []*pb.Flow
	// BucketSeconds is the bucket size, a multiple of 15.
	BucketSeconds() int64
}

// Server serves Goldmane's Flows API. Stream splits each bucket's flows
// evenly into the bucket's 15-second slots and sends a slot 30 s after it
// began (Goldmane sends [now-30s, now-15s]); List answers by bucket.
type Server struct {
	pb.UnimplementedFlowsServer
	gen       Generator
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	retention time.Duration

	mu     sync.Mutex
	ids    map[string]int64
	idBase int64
	cache  map[int64][]*pb.Flow
	extras []chan *pb.Flow
	// sent counts the results streamed; next is the next slot the newest
	// stream sends (Progress).
	sent, next atomic.Int64
}

// New returns a server over gen on the clock now (with its sleep), holding
// retention of the past as Goldmane holds a limited span.
func New(gen Generator, now func() time.Time, sleep func(context.Context, time.Duration) error, retention time.Duration) *Server {
	return &Server{gen: gen, now: now, sleep: sleep, retention: retention, ids: map[string]int64{}, cache: map[int64][]*pb.Flow{}}
}

// NumberFrom makes the server number flows from base+1, as a restarted
// Goldmane numbers them afresh.
func (s *Server) NumberFrom(base int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idBase = base
}

// Progress returns how many results the server has streamed and the start
// of the next slot its newest stream will send (Unix s).
func (s *Server) Progress() (sent, next int64) { return s.sent.Load(), s.next.Load() }

// Register adds the server to a gRPC server.
func (s *Server) Register(g *grpc.Server) { pb.RegisterFlowsServer(g, s) }

// Inject sends f to every open stream as it is, out of turn: a late or
// repeated update.
func (s *Server) Inject(f *pb.Flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.extras {
		select {
		case c <- f:
		default:
		}
	}
}

func (s *Server) id(f *pb.Flow) int64 {
	k := f.GetKey().String()
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ids[k]
	if !ok {
		id = s.idBase + int64(len(s.ids)+1)
		s.ids[k] = id
	}
	return id
}

func (s *Server) bucket(start int64) []*pb.Flow {
	s.mu.Lock()
	if fs, ok := s.cache[start]; ok {
		s.mu.Unlock()
		return fs
	}
	s.mu.Unlock()
	fs := s.gen.Bucket(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) > 4 {
		for k := range s.cache {
			delete(s.cache, k)
		}
	}
	s.cache[start] = fs
	return fs
}

// slot returns the flows of the 15-second slot starting at t.
func (s *Server) slot(t int64) []*pb.Flow {
	size := s.gen.BucketSeconds()
	start := t - ((t%size)+size)%size
	n := size / SlotSeconds
	i := (t - start) / SlotSeconds
	var out []*pb.Flow
	for _, f := range s.bucket(start) {
		part := &pb.Flow{
			Key: f.GetKey(), StartTime: t, EndTime: t + SlotSeconds,
			SourceLabels: f.GetSourceLabels(), DestLabels: f.GetDestLabels(),
			PacketsIn: share(f.GetPacketsIn(), n, i), PacketsOut: share(f.GetPacketsOut(), n, i),
			BytesIn: share(f.GetBytesIn(), n, i), BytesOut: share(f.GetBytesOut(), n, i),
			NumConnectionsStarted:   share(f.GetNumConnectionsStarted(), n, i),
			NumConnectionsCompleted: share(f.GetNumConnectionsCompleted(), n, i),
			NumConnectionsLive:      f.GetNumConnectionsLive(),
		}
		if part.PacketsIn+part.PacketsOut+part.BytesIn+part.BytesOut+part.NumConnectionsStarted+part.NumConnectionsCompleted+part.NumConnectionsLive == 0 {
			continue
		}
		out = append(out, part)
	}
	return out
}

// share is slot i's part of total split over n slots: the remainder goes
// to the first slots, so the parts add up to total.
func share(total, n, i int64) int64 {
	q, r := total/n, total%n
	if i < r {
		return q + 1
	}
	return q
}

// List answers flows starting in [start_time_gte, start_time_lt), whole
// buckets at an aggregation interval of a bucket or more (or zero), else
// by 15-second slot, paged.
func (s *Server) List(ctx context.Context, req *pb.FlowListRequest) (*pb.FlowListResult, error) {
	now := s.now().Unix()
	from, to := abs(req.GetStartTimeGte(), now, now-int64(s.retention/time.Second)), abs(req.GetStartTimeLt(), now, now)
	from = max(from, now-int64(s.retention/time.Second))
	size := s.gen.BucketSeconds()
	var all []*pb.FlowResult
	if req.GetAggregationInterval() == 0 || req.GetAggregationInterval() >= size {
		for b := ceil(from, size); b < to && b+size <= now; b += size {
			for _, f := range s.bucket(b) {
				all = append(all, &pb.FlowResult{Id: s.id(f), Flow: f})
			}
		}
	} else {
		for t := ceil(from, SlotSeconds); t < to && t+SlotSeconds <= now; t += SlotSeconds {
			for _, f := range s.slot(t) {
				all = append(all, &pb.FlowResult{Id: s.id(f), Flow: f})
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].GetFlow().GetStartTime() < all[j].GetFlow().GetStartTime() })
	res := &pb.FlowListResult{Meta: &pb.ListMetadata{TotalResults: int64(len(all)), TotalPages: 1}}
	if size := req.GetPageSize(); size > 0 {
		res.Meta.TotalPages = (int64(len(all)) + size - 1) / size
		lo := min(req.GetPage()*size, int64(len(all)))
		hi := min(lo+size, int64(len(all)))
		all = all[lo:hi]
	}
	res.Flows = all
	return res, nil
}

// Stream sends each 15-second slot from start_time_gte (zero: now) once
// it is complete, then any injected update, until the client leaves.
func (s *Server) Stream(req *pb.FlowStreamRequest, stream grpc.ServerStreamingServer[pb.FlowResult]) error {
	if req.GetAggregationInterval() != 0 && req.GetAggregationInterval() != SlotSeconds {
		return status.Errorf(codes.InvalidArgument, "aggregation_interval must be 15, got %d", req.GetAggregationInterval())
	}
	ctx := stream.Context()
	now := s.now().Unix()
	t := ceil(max(abs(req.GetStartTimeGte(), now, now), now-int64(s.retention/time.Second)), SlotSeconds)
	extra := make(chan *pb.Flow, 1024)
	s.mu.Lock()
	s.extras = append(s.extras, extra)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for i, c := range s.extras {
			if c == extra {
				s.extras = append(s.extras[:i], s.extras[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
	}()
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	s.next.Store(t)
	for {
		for len(extra) > 0 {
			f := <-extra
			if err := stream.Send(&pb.FlowResult{Id: s.id(f), Flow: f}); err != nil {
				return err
			}
			s.sent.Add(1)
		}
		due := time.Unix(t+2*SlotSeconds, 0)
		if wait := due.Sub(s.now()); wait > 0 {
			if err := s.sleep(ctx, min(wait, time.Duration(SlotSeconds)*time.Second)); err != nil {
				return err
			}
			continue
		}
		for _, f := range s.slot(t) {
			if err := stream.Send(&pb.FlowResult{Id: s.id(f), Flow: f}); err != nil {
				return err
			}
			s.sent.Add(1)
		}
		t += SlotSeconds
		s.next.Store(t)
	}
}

// abs reads a request time: zero is def, negative is relative to now.
func abs(t, now, def int64) int64 {
	switch {
	case t == 0:
		return def
	case t < 0:
		return now + t
	}
	return t
}

func ceil(t, size int64) int64 {
	r := ((t % size) + size) % size
	if r == 0 {
		return t
	}
	return t + size - r
}
