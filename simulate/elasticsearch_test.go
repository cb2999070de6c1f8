package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
)

// recorder is an elastic.BulkWriter that keeps what it was given, as an
// Elasticsearch index would (a later document with the same ID replaces
// the earlier one).
type recorder struct {
	calls    int
	maxBatch int
	ops      []elastic.BulkOp
	docs     map[string]json.RawMessage // index + "/" + id
	fail     error
}

func (r *recorder) Bulk(_ context.Context, ops []elastic.BulkOp) (elastic.BulkResult, error) {
	if r.fail != nil {
		return elastic.BulkResult{}, r.fail
	}
	if r.docs == nil {
		r.docs = map[string]json.RawMessage{}
	}
	r.calls++
	r.maxBatch = max(r.maxBatch, len(ops))
	r.ops = append(r.ops, ops...)
	for _, op := range ops {
		r.docs[op.Index+"/"+op.ID] = op.Doc.(json.RawMessage)
	}
	return elastic.BulkResult{Written: len(ops)}, nil
}

func TestWriteElasticsearch(t *testing.T) {
	t.Parallel()
	// An hour across midnight, with an attack before it.
	from := day0.Add(23*time.Hour + 30*time.Minute)
	to := from.Add(time.Hour)
	c := New(Options{Seed: 5}, PortScan{At: from.Add(20 * time.Minute), Namespace: "shop", Workload: "frontend",
		TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 600})
	tests := []struct {
		name        string
		naming      calicolog.IndexNaming
		wantIndices []string
		wantCluster string
	}{
		{"legacy layout", calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}, []string{
			"tigera_secure_ee_flows.cluster.fluentd.20240304", "tigera_secure_ee_flows.cluster.fluentd.20240305",
			"tigera_secure_ee_dns.cluster.fluentd.20240304", "tigera_secure_ee_dns.cluster.fluentd.20240305",
			"tigera_secure_ee_l7.cluster.fluentd.20240304", "tigera_secure_ee_l7.cluster.fluentd.20240305",
		}, ""},
		{"legacy layout with a tenant", calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "east", Tenant: "acme"}, []string{
			"tigera_secure_ee_flows.acme.east.fluentd.20240304", "tigera_secure_ee_flows.acme.east.fluentd.20240305",
			"tigera_secure_ee_dns.acme.east.fluentd.20240304", "tigera_secure_ee_dns.acme.east.fluentd.20240305",
			"tigera_secure_ee_l7.acme.east.fluentd.20240304", "tigera_secure_ee_l7.acme.east.fluentd.20240305",
		}, ""},
		{"single-index layout", calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: "west"},
			[]string{"calico_flowlogs", "calico_dnslogs", "calico_l7logs"}, "west"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			st, err := WriteElasticsearch(context.Background(), rec, tt.naming, c, from, to, 0)
			if err != nil {
				t.Fatal(err)
			}
			if st.Windows != 12 || st.Records() != len(rec.ops) || len(st.Truth) != 1 {
				t.Fatalf("stats %d windows, %d records, %d labels; %d documents written", st.Windows, st.Records(), len(st.Truth), len(rec.ops))
			}
			if len(rec.docs) != len(rec.ops) {
				t.Errorf("%d documents, %d distinct IDs: IDs collide", len(rec.ops), len(rec.docs))
			}
			if rec.calls != (len(rec.ops)+bulkSize-1)/bulkSize || rec.maxBatch > bulkSize {
				t.Errorf("%d bulk calls of at most %d for %d documents, want batches of %d", rec.calls, rec.maxBatch, len(rec.ops), bulkSize)
			}
			perIndex := map[string]int{}
			for i, op := range rec.ops {
				perIndex[op.Index]++
				if i%10 != 0 {
					continue // decoding every document is slow under -race
				}
				doc := op.Doc.(json.RawMessage)
				var m map[string]any
				if err := json.Unmarshal(doc, &m); err != nil {
					t.Fatal(err)
				}
				if got, _ := m["cluster"].(string); got != tt.wantCluster {
					t.Fatalf("%s: cluster field %q, want %q", op.Index, got, tt.wantCluster)
				}
				if _, ok := m["log_type"]; ok {
					t.Fatal("documents carry a log_type field")
				}
				var err error
				switch {
				case strings.Contains(op.Index, "flow"):
					_, err = calicolog.DecodeFlowLog(doc)
				case strings.Contains(op.Index, "dns"):
					_, err = calicolog.DecodeDNSLog(doc)
				default:
					_, err = calicolog.DecodeL7Log(doc)
				}
				if err != nil {
					t.Fatalf("%s: %v", op.Index, err)
				}
			}
			for _, idx := range tt.wantIndices {
				if perIndex[idx] == 0 {
					t.Errorf("nothing written to %s (got %v)", idx, perIndex)
				}
			}
			if len(perIndex) != len(tt.wantIndices) {
				t.Errorf("indices %v, want %v", perIndex, tt.wantIndices)
			}

			// A second run writes the same IDs: nothing is duplicated.
			before := len(rec.docs)
			if _, err := WriteElasticsearch(context.Background(), rec, tt.naming, c, from, to, 0); err != nil {
				t.Fatal(err)
			}
			if len(rec.docs) != before {
				t.Errorf("a re-run grew the index from %d to %d documents", before, len(rec.docs))
			}
			// A run over part of the range in other steps writes a subset.
			partial := &recorder{}
			if _, err := WriteElasticsearch(context.Background(), partial, tt.naming, c, from.Add(7*time.Minute), from.Add(38*time.Minute), 15*time.Minute); err != nil {
				t.Fatal(err)
			}
			for key := range partial.docs {
				if _, ok := rec.docs[key]; !ok {
					t.Fatalf("a partial run wrote %s, which the full run did not", key)
				}
			}
			if len(partial.docs) == 0 {
				t.Error("a partial run wrote nothing")
			}
		})
	}
}

func TestWriteElasticsearchErrors(t *testing.T) {
	c := New(Options{Seed: 5})
	from := day0.Add(time.Hour)
	tests := []struct {
		name    string
		w       elastic.BulkWriter
		naming  calicolog.IndexNaming
		from    time.Time
		to      time.Time
		wantErr string
	}{
		{"the writer fails", &recorder{fail: errors.New("es down")}, calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}, from, from.Add(time.Hour), "es down"},
		{"a bad cluster name", &recorder{}, calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "Bad Name"}, from, from.Add(time.Hour), "cluster name"},
		{"an empty range", &recorder{}, calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}, from, from, "empty time range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := WriteElasticsearch(context.Background(), tt.w, tt.naming, c, tt.from, tt.to, 0)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one about %q", err, tt.wantErr)
			}
		})
	}
	t.Run("a cancelled context stops the run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var called bool
		_, err := WriteElasticsearch(ctx, bulkFunc(func(context.Context, []elastic.BulkOp) (elastic.BulkResult, error) {
			called = true
			return elastic.BulkResult{}, nil
		}),
			calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}, c, from, from.Add(time.Hour), 0)
		if !errors.Is(err, context.Canceled) || called {
			t.Errorf("err = %v, writer called %v", err, called)
		}
	})
}

type bulkFunc func(ctx context.Context, ops []elastic.BulkOp) (elastic.BulkResult, error)

func (f bulkFunc) Bulk(ctx context.Context, ops []elastic.BulkOp) (elastic.BulkResult, error) {
	return f(ctx, ops)
}
