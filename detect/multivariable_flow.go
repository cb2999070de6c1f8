package detect

import "github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"

// multivariableRatios are the derived features of multivariable_flow: bytes
// and packets per flow, which a window can break (many flows with few
// bytes each: a beacon, a slow scan, a connection flood) while every field
// stays within its usual range. Indexes into flowNumericFields.
var multivariableRatios = [][2]int{{1, 2}, {0, 2}, {6, 2}, {5, 2}}

func init() {
	Register(Info{
		Name:           "multivariable_flow",
		Family:         Performance,
		Logs:           []string{"flows"},
		DefaultEnabled: true,
		Help: "All numeric flow fields of a source workload together (log-scaled, with bytes and packets per flow), " +
			"against its own history, with an isolation forest: finds windows no single field shows.",
		Params: isolationParams("", ""),
		Scope:  PooledScope,
		New: func(o Options) (Detector, error) {
			return newIsolationDetector("multivariable_flow", isolationSpec{
				log: calicolog.Flows, groupBy: baselineFlowKey, filters: srcReports,
				fields: flowNumericFields, ratios: multivariableRatios,
				entity: flowSourceEntity, evidence: flowSourceEvidence,
				main: 2, what: "flow counters", baselinesOf: "generic_flows",
			}, o)
		},
	})
}
