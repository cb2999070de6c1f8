package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

func init() {
	Register(Info{
		Name:           "time_series_flows",
		Family:         Performance,
		Logs:           []string{"flows"},
		DefaultEnabled: true,
		Help:           "What the namespace's workloads send and receive (their own reports): bytes, packets, connections, over time per namespace, against its hourly and daily (and weekly) pattern.",
		Params: []Param{
			{Key: "anomaly_value_threshold", Env: "AD_TIME_SERIES_FLOWS_ANOMALY_VALUE_THRESHOLD", Default: "6",
				Help: "learned spreads beyond the normal band (±3) at which a value alerts; higher means fewer"},
			{Key: "fields", Default: "bytes_in,bytes_out,num_flows,packets_in,packets_out",
				Help: "comma list of flow fields followed per namespace"},
			{Key: "min_size_for_train", Default: "100",
				Help: "namespace windows learned before the model judges"},
			levelShiftParam,
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newFieldBaselines("time_series_flows", baselineSpec{
				log: calicolog.Flows, groupBy: []string{"source_namespace"}, filters: srcReports,
				entity: namespaceEntity, evidence: namespaceEvidence("source_namespace", srcReports...), known: flowNumericFields,
				threshold: anomalyValueZ, setting: "anomaly_value_threshold",
			}, o)
		},
	})
}
