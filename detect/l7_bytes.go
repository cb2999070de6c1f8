package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// l7ByteFields are the fields l7_bytes follows.
var l7ByteFields = []numericField{{"bytes_in", source.Sum, true}, {"bytes_out", source.Sum, true}}

func init() {
	Register(Info{
		Name:           "l7_bytes",
		Family:         Both,
		Logs:           []string{"l7"},
		Unit:           UnitBytes,
		DefaultEnabled: true,
		Help: "HTTP bytes received and sent by each serving workload (bytes_in, bytes_out, separately) " +
			"against its seasonal baseline (hour of day, hour of week).",
		Params: []Param{
			{Key: "sensitivity", Env: "AD_L7_BYTES_SENSITIVITY", Default: "5",
				Help: "0..100, higher means more alerts; maps to a deviation in learned spreads (5 → 5.09)"},
			{Key: "fields", Default: fieldNames(l7ByteFields, 2), Help: "bytes_in, bytes_out or both, each with its own baseline"},
			{Key: "min_size_for_train", Default: defaultMinSizeForTrain, Help: "entity windows learned before the model judges"},
			levelShiftParam,
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newFieldBaselines("l7_bytes", baselineSpec{
				log: calicolog.L7, groupBy: baselineL7Key,
				entity: l7DestEntity, evidence: l7DestEvidence, known: l7ByteFields,
				threshold: model.SensitivityZ, setting: "sensitivity",
			}, o)
		},
	})
}
