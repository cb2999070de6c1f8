package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
)

func init() {
	Register(Info{
		Name:           "generic_dns",
		Family:         Performance,
		Logs:           []string{"dns"},
		DefaultEnabled: true,
		Help: "Each numeric DNS field of a client workload (queries, latency), separately, against its " +
			"seasonal baseline.",
		Params: []Param{
			{Key: "sensitivity", Env: "AD_GENERIC_DNS_SENSITIVITY", Default: "4",
				Help: "0..100, higher means more alerts; maps to a deviation in learned spreads (4 → 5.1)"},
			{Key: "fields", Env: "AD_GENERIC_DNS_FIELDS", Default: fieldNames(dnsNumericFields, 4),
				Help: "comma list of DNS fields, each with its own baseline"},
			{Key: "min_size_for_train", Default: defaultMinSizeForTrain,
				Help: "entity windows learned before the model judges"},
			levelShiftParam,
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newFieldBaselines("generic_dns", baselineSpec{
				log: calicolog.DNS, groupBy: baselineDNSKey,
				entity: dnsClientEntity, evidence: dnsClientEvidence, known: dnsNumericFields,
				threshold: model.SensitivityZ, setting: "sensitivity",
			}, o)
		},
	})
}
