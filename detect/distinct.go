package detect

import (
	"fmt"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// flowSourceKey groups flow records by the source entity.
var flowSourceKey = []string{"source_namespace", "source_name_aggr", "source_type"}

// distinctThreshold is the model shared by detectors that alert when one
// source entity reaches a threshold of distinct values of a flow field in a
// window (port_scan on dest_port, ip_sweep on dest_ip).
type distinctThreshold struct {
	name      string
	cluster   string
	field     string  // the flow field counted, e.g. "dest_port"
	noun      string  // what is counted, for summaries: "destination ports"
	threshold float64 // distinct values at or above which the entity alerts
}

// scoreThreshold is the score of an entity exactly at its detector's count
// threshold: count detectors map a count x to x/(x+threshold), so the
// threshold lands at 0.5 and scores stay comparable across detectors.
const scoreThreshold = 0.5

// countScore maps a count against its threshold onto 0..1.
func countScore(x, threshold float64) float64 {
	if x <= 0 {
		return 0
	}
	return x / (x + threshold)
}

func newDistinctThreshold(info Info, o Options, field, noun string) (*distinctThreshold, error) {
	t, err := o.Float(info, "threshold")
	if err != nil {
		return nil, err
	}
	if t < 1 {
		return nil, fmt.Errorf("detector %s: threshold %v must be at least 1", info.Name, t)
	}
	return &distinctThreshold{name: info.Name, cluster: o.Cluster, field: field, noun: noun, threshold: t}, nil
}

func (d *distinctThreshold) Name() string       { return d.name }
func (d *distinctThreshold) Threshold() float64 { return scoreThreshold }
func (d *distinctThreshold) Ready() bool        { return true }

func (d *distinctThreshold) Queries() []source.Query {
	return []source.Query{{
		Name:    d.name,
		Log:     calicolog.Flows,
		GroupBy: flowSourceKey,
		Metrics: []source.Metric{
			{Name: "distinct", Kind: source.Cardinality, Field: d.field},
			{Name: "records", Kind: source.Count},
		},
	}}
}

func (d *distinctThreshold) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	out := make([]Verdict, 0, len(rows[0]))
	for _, r := range rows[0] {
		if len(r.Key) != len(flowSourceKey) || len(r.Values) < 1 || r.Key[1] == "" {
			continue
		}
		e := Entity{Cluster: d.cluster, Namespace: r.Key[0], Workload: r.Key[1], Type: r.Key[2]}
		distinct := r.Values[0]
		v := Verdict{
			Detector:  d.name,
			Entity:    e,
			Window:    w,
			Score:     countScore(distinct, d.threshold),
			Threshold: scoreThreshold,
			Observed:  distinct,
			Expected:  d.threshold,
		}
		v.Summary = fmt.Sprintf("%s in namespace %s reached %.0f distinct %s in %s (threshold %.0f)",
			e.Workload, e.Namespace, distinct, d.noun, w.End.Sub(w.Start), d.threshold)
		v.EvidenceQuery = []EvidenceQuery{{
			Log: string(calicolog.Flows),
			Filters: []source.Term{
				{Field: "source_namespace", Values: []string{r.Key[0]}},
				{Field: "source_name_aggr", Values: []string{r.Key[1]}},
				{Field: "source_type", Values: []string{r.Key[2]}},
			},
			Limit: 5,
		}}
		out = append(out, v)
	}
	return out
}
