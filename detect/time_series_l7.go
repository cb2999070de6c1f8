package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

func init() {
	Register(Info{
		Name:           "time_series_l7",
		Family:         Performance,
		Logs:           []string{"l7"},
		DefaultEnabled: true,
		Help:           "What the namespace's services answer: requests, duration and bytes, over time per namespace, against its hourly and daily (and weekly) pattern.",
		Params: []Param{
			{Key: "anomaly_value_threshold", Env: "AD_TIME_SERIES_L7_ANOMALY_VALUE_THRESHOLD", Default: "6",
				Help: "learned spreads beyond the normal band (±3) at which a value alerts; higher means fewer"},
			{Key: "fields", Default: "count,duration_mean,duration_max,bytes_in,bytes_out",
				Help: "comma list of L7 fields followed per namespace"},
			{Key: "min_size_for_train", Default: "100",
				Help: "namespace windows learned before the model judges"},
			levelShiftParam,
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newFieldBaselines("time_series_l7", baselineSpec{
				log: calicolog.L7, groupBy: []string{"dest_namespace"}, filters: nil,
				entity: namespaceEntity, evidence: namespaceEvidence("dest_namespace"), known: l7NumericFields,
				threshold: anomalyValueZ, setting: "anomaly_value_threshold",
			}, o)
		},
	})
}
