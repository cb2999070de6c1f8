package incident

import (
	"github.com/prometheus/client_golang/prometheus"
)

// maxOpenExported bounds the open incidents exported as series, the most
// severe first.
const maxOpenExported = 1000

var openDesc = prometheus.NewDesc("calico_anomaly_incident_open",
	"1 for each open incident, labelled with its id and workload; Grafana annotates incidents from it. The most severe 1000 are exported.",
	[]string{"cluster", "namespace", "workload", "type", "severity", "incident"}, nil)

var openedDesc = prometheus.NewDesc("calico_anomaly_incident_start_timestamp_seconds",
	"When each open incident started (the start of its first anomalous window), as a Unix timestamp.",
	[]string{"cluster", "namespace", "workload", "type", "severity", "incident"}, nil)

// Describe implements prometheus.Collector.
func (t *Tracker) Describe(ch chan<- *prometheus.Desc) {
	ch <- openDesc
	ch <- openedDesc
}

// Collect implements prometheus.Collector: the open incidents.
func (t *Tracker) Collect(ch chan<- prometheus.Metric) {
	open, _ := t.List()
	if len(open) > maxOpenExported {
		open = open[:maxOpenExported]
	}
	for _, in := range open {
		labels := []string{in.Entity.Cluster, in.Entity.Namespace, in.Entity.Workload, in.Entity.Type, in.SeverityLabel(), in.ID}
		ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, 1, labels...)
		ch <- prometheus.MustNewConstMetric(openedDesc, prometheus.GaugeValue, float64(in.Start.Unix()), labels...)
	}
}
