package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:           "dns_latency",
		Family:         Both,
		Logs:           []string{"dns"},
		Unit:           UnitNanoseconds,
		DefaultEnabled: true,
		Help: "DNS latency of each client workload (latency_mean and latency_max together) against its own history, " +
			"with an isolation forest as Calico's; alerts only when the mean latency also rose by the sensitivity's deviation.",
		Params: append([]Param{
			{Key: "sensitivity", Env: "AD_DNS_LATENCY_SENSITIVITY", Default: "15",
				Help: "0..100, higher means more alerts; the rise of the mean latency, in learned spreads, an alert needs (15 → 4.87)"},
		}, isolationParams("AD_DnsLatency_IsolationForest_n_estimators", "AD_DnsLatency_IsolationForest_score_threshold")...),
		Scope: PooledScope,
		New: func(o Options) (Detector, error) {
			return newIsolationDetector("dns_latency", isolationSpec{
				log: calicolog.DNS, groupBy: baselineDNSKey,
				fields: []numericField{{"latency_mean", source.Avg, false}, {"latency_max", source.Max, false}},
				entity: dnsClientEntity, evidence: dnsClientEvidence,
				main: 0, sensitivity: "sensitivity", what: "DNS latency (ns)", baselinesOf: "generic_dns",
			}, o)
		},
	})
}
