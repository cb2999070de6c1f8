package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// bulkSize is how many documents one Bulk call carries at most.
const bulkSize = 5000

// Stats is what a writer wrote.
type Stats struct {
	Windows        int
	Flows, DNS, L7 int
	// Truth is the labels of the attacks in the windows written.
	Truth []Label
	// Files are the files written, in order (WriteNDJSON only).
	Files []string
}

// Records is the number of records written.
func (s Stats) Records() int { return s.Flows + s.DNS + s.L7 }

func (s *Stats) add(b Batch) {
	s.Windows++
	s.Flows += len(b.Flows)
	s.DNS += len(b.DNS)
	s.L7 += len(b.L7)
	s.Truth = append(s.Truth, b.Truth...)
}

// windows calls fn with c's batch for each window of length step (the
// cluster's bucket when step is not positive) that covers [from, to), in
// order, clipped to [from, to).
func windows(ctx context.Context, c *Cluster, from, to time.Time, step time.Duration, fn func(Batch) error) error {
	if step <= 0 {
		step = c.Bucket()
	}
	if !to.After(from) {
		return fmt.Errorf("empty time range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	for t := source.Align(from, step); t.Before(to); t = t.Add(step) {
		if err := ctx.Err(); err != nil {
			return err
		}
		w := source.Window{Start: t, End: t.Add(step)}
		if w.Start.Before(from) {
			w.Start = from
		}
		if w.End.After(to) {
			w.End = to
		}
		if err := fn(c.Window(w)); err != nil {
			return err
		}
	}
	return nil
}

// WriteElasticsearch writes the cluster's records that end in [from, to)
// into Elasticsearch through w, generating windows of length bucket (the
// cluster's bucket if not positive) one at a time. Records go to the
// indices naming names for the day they end; in the single-index layout
// each carries naming's cluster name. Document IDs derive from the
// documents, so writing the same range again overwrites rather than
// duplicates.
func WriteElasticsearch(ctx context.Context, w elastic.BulkWriter, naming calicolog.IndexNaming, c *Cluster, from, to time.Time, bucket time.Duration) (Stats, error) {
	var st Stats
	if err := naming.Validate(); err != nil {
		return st, err
	}
	cluster := clusterField(naming)
	var ops []elastic.BulkOp
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := w.Bulk(ctx, ops); err != nil {
			return fmt.Errorf("bulk write of %d documents: %w", len(ops), err)
		}
		ops = nil // the writer may keep the slice it was given
		return nil
	}
	add := func(t calicolog.LogType, end time.Time, ids *docIDs, doc any) error {
		raw, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		ops = append(ops, elastic.BulkOp{Index: naming.WriteIndex(t, end), ID: ids.next(t, raw), Doc: json.RawMessage(raw)})
		if len(ops) >= bulkSize {
			return flush()
		}
		return nil
	}
	err := windows(ctx, c, from, to, bucket, func(b Batch) error {
		ids := docIDs{}
		if err := eachDocument(&b, cluster, func(t calicolog.LogType, end time.Time, doc any) error {
			return add(t, end, &ids, doc)
		}); err != nil {
			return err
		}
		st.add(b)
		return nil
	})
	if err == nil {
		err = flush()
	}
	return st, err
}

// docIDs names documents by their content: a hash of the log type and the
// JSON document, and of how many identical documents came before it in the
// same window, so that equal records stay distinct documents.
type docIDs map[[sha256.Size]byte]int

func (d docIDs) next(t calicolog.LogType, doc []byte) string {
	h := sha256.New()
	h.Write([]byte(t))
	h.Write([]byte{0})
	h.Write(doc)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	n := d[sum]
	d[sum] = n + 1
	if n > 0 {
		fmt.Fprintf(h, "\x00%d", n)
		h.Sum(sum[:0])
	}
	return base64.RawURLEncoding.EncodeToString(sum[:15])
}
