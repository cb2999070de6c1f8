package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
)

func init() {
	Register(Info{
		Name:           "generic_flows",
		Family:         Performance,
		Logs:           []string{"flows"},
		DefaultEnabled: true,
		Help: "Each numeric flow field of a source workload, separately, against its seasonal baseline " +
			"(what it usually sends and receives at this hour of the day and week).",
		Params: []Param{
			{Key: "sensitivity", Env: "AD_GENERIC_FLOWS_SENSITIVITY", Default: "1",
				Help: "0..100, higher means more alerts; maps to a deviation in learned spreads (1 → 5.2)"},
			{Key: "fields", Env: "AD_GENERIC_FLOWS_FIELDS", Default: fieldNames(flowNumericFields, 10),
				Help: "comma list of flow fields, each with its own baseline"},
			{Key: "min_size_for_train", Default: defaultMinSizeForTrain,
				Help: "entity windows learned before the model judges"},
			levelShiftParam,
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newFieldBaselines("generic_flows", baselineSpec{
				log: calicolog.Flows, groupBy: baselineFlowKey, filters: srcReports,
				entity: flowSourceEntity, evidence: flowSourceEvidence, known: flowNumericFields,
				threshold: model.SensitivityZ, setting: "sensitivity",
			}, o)
		},
	})
}
