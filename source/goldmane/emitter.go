package goldmane

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-kit/log/level"

	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// EmitterPath is where the exporter accepts the pushes of Goldmane's
// emitter.
const EmitterPath = "/goldmane/flows"

// DefaultMaxPushBytes bounds one push's body unless Config says otherwise.
const DefaultMaxPushBytes = 64 << 20

// PushResult is the answer to one push.
type PushResult struct {
	Accepted  int    `json:"accepted"`
	Duplicate int    `json:"duplicate"`
	Late      int    `json:"late"`
	Dropped   int    `json:"dropped"`
	Malformed int    `json:"malformed"`
	Error     string `json:"error,omitempty"` // the first malformed line and why
}

// Handler accepts the NDJSON pushes of Goldmane's emitter: one Flow a line,
// as Goldmane writes it (encoding/json of its generated Flow message: the
// proto field names, enums as numbers). A malformed line is counted and
// skipped, and named in the answer; the rest of the push is kept and the
// answer is 200, since Goldmane would retry a refused push unchanged. It
// answers 405 to anything but POST and 413 to a body over Config.MaxPushBytes.
// Authentication is the web config's (TLS client certificates or basic
// auth), as for every path of the exporter.
func (s *Source) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			s.answer(w, http.StatusMethodNotAllowed, PushResult{Error: "Goldmane's emitter pushes with POST"})
			return
		}
		res, err := s.push(http.MaxBytesReader(w, r.Body, s.cfg.MaxPushBytes))
		if err != nil {
			code := http.StatusBadRequest
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				code = http.StatusRequestEntityTooLarge
			}
			res.Error = err.Error()
			level.Warn(s.logger).Log("msg", "push from Goldmane's emitter refused", "err", err)
			s.answer(w, code, res)
			return
		}
		if res.Error != "" {
			level.Warn(s.logger).Log("msg", "malformed lines in a push from Goldmane's emitter skipped", "malformed", res.Malformed, "first", res.Error)
		}
		s.answer(w, http.StatusOK, res)
	})
}

func (s *Source) answer(w http.ResponseWriter, code int, res PushResult) {
	s.pushes.WithLabelValues(strconv.Itoa(code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}

// push reads one NDJSON body.
func (s *Source) push(body interface{ Read([]byte) (int, error) }) (PushResult, error) {
	var res PushResult
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), int(s.cfg.MaxPushBytes))
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var f pb.Flow
		if err := json.Unmarshal(b, &f); err != nil {
			s.store.count(Malformed)
			res.Malformed++
			if res.Error == "" {
				res.Error = fmt.Sprintf("line %d: %v", line, err)
			}
			continue
		}
		switch o := s.Add(&f); o {
		case Accepted:
			res.Accepted++
		case Duplicate:
			res.Duplicate++
		case Late:
			res.Late++
		case Dropped:
			res.Dropped++
		default:
			res.Malformed++
			if res.Error == "" {
				_, why, _ := keyOf(f.GetKey())
				if why == "" {
					why = "bad start_time or end_time"
				}
				res.Error = fmt.Sprintf("line %d: %s", line, why)
			}
		}
	}
	return res, sc.Err()
}
