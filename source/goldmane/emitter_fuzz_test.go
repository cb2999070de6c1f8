package goldmane

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-kit/log"

	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// FuzzEmitterPush feeds arbitrary bodies to the emitter's NDJSON reader:
// it must never panic, and every non-blank line is accounted for once.
func FuzzEmitterPush(f *testing.F) {
	good := update(5432, base, 10)
	f.Add(ndjsonSeed(good))
	f.Add([]byte(`{"Key":{"source_name":"a","dest_name":"b","reporter":1},"start_time":1772452800,"end_time":1772452815,"bytes_out":-5}`))
	f.Add([]byte("{\"Key\": 7}\n\n{}\nnot json\n"))
	f.Add([]byte(`{"Key":{"source_name":"a","dest_name":"b","reporter":2,"policies":{"enforced_policies":[{"trigger":{"trigger":{}}}]}},"start_time":9223372036854775807,"end_time":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		src, err := New(Config{Now: func() time.Time { return time.Unix(base+20, 0) }, MaxPushBytes: 1 << 20}, log.NewNopLogger())
		if err != nil {
			t.Fatal(err)
		}
		res, err := src.push(bytes.NewReader(body))
		if err != nil {
			return // a line past the bound
		}
		lines := 0
		for _, l := range bytes.Split(body, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		if got := res.Accepted + res.Duplicate + res.Late + res.Dropped + res.Malformed; got != lines {
			t.Errorf("%d lines, %d accounted for: %+v", lines, got, res)
		}
		if res.Malformed > 0 && res.Error == "" {
			t.Errorf("malformed lines without a reason: %+v", res)
		}
	})
}

func ndjsonSeed(f *pb.Flow) []byte {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	return b
}
