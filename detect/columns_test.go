package detect

import (
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func TestColumnsReadRowsByFieldName(t *testing.T) {
	q := source.Query{Name: "q", GroupBy: []string{"source_namespace", "source_name_aggr", "source_type", "source_name", "process_name", "process_id", "host"}}
	c := processColumnsOf(q, "source")
	r := source.Row{Key: []string{"shop", "cart-*", "wep", "cart-1", "java", "42", "node-a"}}
	if e := c.entity.of("c1", r); e != (Entity{Cluster: "c1", Namespace: "shop", Workload: "cart-*", Type: "wep"}) {
		t.Errorf("entity %+v", e)
	}
	for field, want := range map[int]string{c.pod: "cart-1", c.process: "java", c.processID: "42", c.host: "node-a"} {
		if r.Key[field] != want {
			t.Errorf("column %d reads %q, want %q", field, r.Key[field], want)
		}
	}
	if !c.fits(r) || c.fits(source.Row{Key: r.Key[:6]}) {
		t.Errorf("fits: a full row %v, a short one %v", c.fits(r), c.fits(source.Row{Key: r.Key[:6]}))
	}
	// A query without process ids (process_bytes) has none to read.
	b := processColumnsOf(source.Query{Name: "b", GroupBy: q.GroupBy[:5]}, "source")
	if b.processID != -1 || b.host != -1 || b.process != 4 {
		t.Errorf("process_bytes columns %+v", b)
	}
}

func TestColumnsRefuseAQueryWithoutTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func()
	}{
		{"a field not grouped by", func() {
			columnsOf(source.Query{Name: "q", GroupBy: []string{"dest_namespace"}}).col("method")
		}},
		{"the entity not first", func() {
			columnsOf(source.Query{Name: "q", GroupBy: []string{"method", "dest_namespace", "dest_name_aggr", "dest_type"}}).entity("dest")
		}},
		{"another side's entity", func() {
			entityFieldColumnsOf(source.Query{Name: "q", GroupBy: []string{"dest_namespace", "dest_name_aggr", "dest_type", "method"}}, "source", "method")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("resolved")
				}
			}()
			tc.read()
		})
	}
}

// TestEveryDetectorResolvesItsColumns builds every registered detector
// with its defaults: a detector whose reading names a field its own
// queries do not group by panics here.
func TestEveryDetectorResolvesItsColumns(t *testing.T) {
	for _, info := range Registered() {
		if _, err := info.New(Options{Cluster: "c1"}); err != nil {
			t.Errorf("%s: %v", info.Name, err)
		}
	}
}
