package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:           "l7_latency",
		Family:         Both,
		Logs:           []string{"l7"},
		Unit:           UnitMilliseconds,
		DefaultEnabled: true,
		Help: "Request duration of each serving workload (duration_mean and duration_max together) against its own history, " +
			"with an isolation forest as Calico's; alerts only when the mean duration also rose by the sensitivity's deviation.",
		Params: append([]Param{
			{Key: "sensitivity", Env: "AD_L7_LATENCY_SENSITIVITY", Default: "7",
				Help: "0..100, higher means more alerts; the rise of the mean duration, in learned spreads, an alert needs (7 → 5.05)"},
		}, isolationParams("AD_L7Latency_IsolationForest_n_estimators", "AD_L7Latency_IsolationForest_score_threshold")...),
		Scope: PooledScope,
		New: func(o Options) (Detector, error) {
			return newIsolationDetector("l7_latency", isolationSpec{
				log: calicolog.L7, groupBy: baselineL7Key,
				fields: []numericField{{"duration_mean", source.Avg, false}, {"duration_max", source.Max, false}},
				entity: l7DestEntity, evidence: l7DestEvidence,
				main: 0, sensitivity: "sensitivity", what: "request duration (ns)", baselinesOf: "generic_l7",
			}, o)
		},
	})
}
