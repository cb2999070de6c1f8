package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
)

func init() {
	Register(Info{
		Name:           "generic_l7",
		Family:         Performance,
		Logs:           []string{"l7"},
		DefaultEnabled: true,
		Help: "Each numeric L7 field of a serving workload (requests, duration, bytes), separately, " +
			"against its seasonal baseline.",
		Params: []Param{
			{Key: "sensitivity", Env: "AD_GENERIC_L7_SENSITIVITY", Default: "10",
				Help: "0..100, higher means more alerts; maps to a deviation in learned spreads (10 → 5.0)"},
			{Key: "fields", Env: "AD_GENERIC_L7_FIELDS", Default: fieldNames(l7NumericFields, 5),
				Help: "comma list of L7 fields, each with its own baseline"},
			{Key: "min_size_for_train", Default: defaultMinSizeForTrain,
				Help: "entity windows learned before the model judges"},
			levelShiftParam,
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newFieldBaselines("generic_l7", baselineSpec{
				log: calicolog.L7, groupBy: baselineL7Key,
				entity: l7DestEntity, evidence: l7DestEvidence, known: l7NumericFields,
				threshold: model.SensitivityZ, setting: "sensitivity",
			}, o)
		},
	})
}
