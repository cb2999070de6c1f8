package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

func init() {
	Register(Info{
		Name:           "time_series_dns",
		Family:         Performance,
		Logs:           []string{"dns"},
		DefaultEnabled: true,
		Help:           "What the namespace's workloads ask of DNS: queries and latency, over time per namespace, against its hourly and daily (and weekly) pattern.",
		Params: []Param{
			{Key: "anomaly_value_threshold", Env: "AD_TIME_SERIES_DNS_ANOMALY_VALUE_THRESHOLD", Default: "1",
				Help: "learned spreads beyond the normal band (±3) at which a value alerts; higher means fewer"},
			{Key: "fields", Default: "count,latency_mean,latency_max",
				Help: "comma list of DNS fields followed per namespace"},
			{Key: "min_size_for_train", Default: "100",
				Help: "namespace windows learned before the model judges"},
			levelShiftParam,
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newFieldBaselines("time_series_dns", baselineSpec{
				log: calicolog.DNS, groupBy: []string{"client_namespace"}, filters: nil,
				entity: namespaceEntity, evidence: namespaceEvidence("client_namespace"), known: dnsNumericFields,
				threshold: anomalyValueZ, setting: "anomaly_value_threshold",
			}, o)
		},
	})
}
