// Package collector owns the metric contract: it turns a scoreboard snapshot
// into calico_anomaly_* metrics at scrape time, so an entity that was not
// scored in the latest window is simply not exported.
//
// An exporter watching several clusters exports every cluster's scores
// and every cluster's detector health (threshold, model ready, runs,
// duration, last run, series dropped, detections folded, model entities,
// trained windows, load errors): their cluster label tells them apart, as
// scoreboard.Snapshot.ClusterDetectors holds them, so rules and dashboards
// join them on (job, instance, cluster, detector).
//
// calico_anomaly_detector_info carries the registry's facts of every
// detector (family, MITRE techniques), so a query selects a family by
// joining on detector instead of listing its detectors.
package collector

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
)

const namespace = "calico_anomaly"

var entityLabels = []string{"cluster", "detector", "namespace", "workload", "type"}

var (
	scoreDesc = prometheus.NewDesc(namespace+"_score",
		"Anomaly score of the latest window, 0..1, comparable across detectors.", entityLabels, nil)
	observedDesc = prometheus.NewDesc(namespace+"_observed_value",
		"The quantity the detector looked at in the latest window.", entityLabels, nil)
	expectedDesc = prometheus.NewDesc(namespace+"_expected_value",
		"What the detector's model expected of the observed quantity.", entityLabels, nil)
	thresholdDesc = prometheus.NewDesc(namespace+"_score_threshold",
		"The score at or above which the detector alerts.", []string{"cluster", "detector"}, nil)
	detectionsDesc = prometheus.NewDesc(namespace+"_detections_total",
		"Windows judged anomalous, per entity namespace.", []string{"cluster", "detector", "namespace"}, nil)
	readyDesc = prometheus.NewDesc(namespace+"_model_ready",
		"1 once the detector has learned enough to score.", []string{"cluster", "detector"}, nil)
	runsDesc = prometheus.NewDesc(namespace+"_detector_runs_total",
		"Detector runs over a window, by result.", []string{"cluster", "detector", "result"}, nil)
	durationDesc = prometheus.NewDesc(namespace+"_detector_run_duration_seconds",
		"How long the detector's latest run took, reading included.", []string{"cluster", "detector"}, nil)
	lastRunDesc = prometheus.NewDesc(namespace+"_detector_last_run_timestamp_seconds",
		"When the detector last ran, as a Unix timestamp.", []string{"cluster", "detector"}, nil)
	foldedDesc = prometheus.NewDesc(namespace+"_detections_folded_total",
		"Detections counted under namespace=\"_other\" because the detector's per-namespace detection series reached the per-detector series bound.", []string{"cluster", "detector"}, nil)
	entitiesDesc = prometheus.NewDesc(namespace+"_model_entities",
		"Entities the detector's model keeps state for (detectors that bound it).", []string{"cluster", "detector"}, nil)
	evictedDesc = prometheus.NewDesc(namespace+"_model_entities_evicted_total",
		"Entities the detector's model forgot, least recently seen first, because of --model.max-entities-per-detector.", []string{"cluster", "detector"}, nil)
	droppedDesc = prometheus.NewDesc(namespace+"_series_dropped_total",
		"Score series not exported because of the per-detector series bound.", []string{"cluster", "detector"}, nil)
	trainedDesc = prometheus.NewDesc(namespace+"_model_trained_windows_total",
		"Windows a detector's model learned without judging them: history read at start, and windows before it was ready.", []string{"cluster", "detector"}, nil)
	loadErrorsDesc = prometheus.NewDesc(namespace+"_model_load_errors_total",
		"Saved models that could not be used (corrupt, another format version) and were learned afresh.", []string{"cluster", "detector"}, nil)
	savedDesc = prometheus.NewDesc(namespace+"_model_last_save_timestamp_seconds",
		"When the models and the last completed window were last saved to the model folder, as a Unix timestamp.", nil, nil)
	lagDesc = prometheus.NewDesc(namespace+"_window_lag_seconds",
		"How far the end of the newest processed window is behind now.", nil, nil)
	recordsDesc = prometheus.NewDesc(namespace+"_log_records_total",
		"Log records in processed windows, malformed ones included.", []string{"log_type"}, nil)
	malformedDesc = prometheus.NewDesc(namespace+"_log_records_malformed_total",
		"Log records skipped because they break Calico's log contract.", []string{"log_type"}, nil)
	esUpDesc = prometheus.NewDesc(namespace+"_elasticsearch_up",
		"1 when the last read from Elasticsearch succeeded.", nil, nil)
	esRetriesDesc = prometheus.NewDesc(namespace+"_elasticsearch_retries_total",
		"Failed or retried reads from Elasticsearch.", nil, nil)
	infoDesc = prometheus.NewDesc(namespace+"_detector_info",
		"Facts of every detector the exporter knows, from its registry: the family and the MITRE ATT&CK techniques (comma-separated, empty when none fits). Always 1.",
		[]string{"detector", "family", "mitre"}, nil)
)

// Collector exports a scoreboard. It implements prometheus.Collector.
type Collector struct {
	board *scoreboard.Scoreboard
	now   func() time.Time
	// detectors lists the detectors calico_anomaly_detector_info
	// describes: the registry's (detect.Registered).
	detectors func() []detect.Info
}

// New returns a collector over board; now gives the time the window lag is
// measured against (the engine's clock).
func New(board *scoreboard.Scoreboard, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	return &Collector{board: board, now: now, detectors: detect.Registered}
}

// Describe sends every descriptor the collector may emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{scoreDesc, observedDesc, expectedDesc, thresholdDesc, detectionsDesc,
		readyDesc, runsDesc, durationDesc, lastRunDesc, droppedDesc, foldedDesc, entitiesDesc, evictedDesc, lagDesc, recordsDesc, malformedDesc,
		esUpDesc, esRetriesDesc, trainedDesc, loadErrorsDesc, savedDesc, infoDesc} {
		ch <- d
	}
}

// Collect emits the metrics of the scoreboard's current snapshot.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.board.Snapshot()
	// Values from logs are made safe, and two entities whose names become
	// the same keep one series: the first, highest score (verdicts come
	// sorted), so the scrape never fails on a duplicate.
	seen := map[[5]string]bool{}
	var entities []entitySeries
	for _, vs := range snap.Verdicts {
		for _, v := range vs {
			key := [5]string{calicolog.LabelValue(v.Entity.Cluster), v.Detector, calicolog.LabelValue(v.Entity.Namespace), calicolog.LabelValue(v.Entity.Workload), calicolog.LabelValue(v.Entity.Type)}
			if seen[key] {
				continue
			}
			seen[key] = true
			entities = append(entities, entitySeries{key: key, score: v.Score, observed: v.Observed, expected: v.Expected})
		}
	}
	// Emitted in the order the registry sorts them in (label values in
	// label-name order: cluster, detector, namespace, type, workload), so
	// its sort finds them sorted; the three series of an entity share one
	// set of label pairs.
	sort.Slice(entities, func(i, j int) bool { return entities[i].less(entities[j]) })
	for _, e := range entities {
		pairs := e.labelPairs()
		ch <- entityMetric{desc: scoreDesc, pairs: pairs, value: e.score}
		ch <- entityMetric{desc: observedDesc, pairs: pairs, value: e.observed}
		ch <- entityMetric{desc: expectedDesc, pairs: pairs, value: e.expected}
	}
	// Two cluster names made the same label value keep one series each
	// (the first seen), so the scrape never fails on a duplicate.
	seenHealth := map[scoreboard.DetectorKey]bool{}
	for k, st := range snap.ClusterDetectors {
		cluster, name := calicolog.LabelValue(k.Cluster), k.Detector
		if hk := (scoreboard.DetectorKey{Cluster: cluster, Detector: name}); seenHealth[hk] {
			continue
		} else {
			seenHealth[hk] = true
		}
		ch <- prometheus.MustNewConstMetric(thresholdDesc, prometheus.GaugeValue, st.Threshold, cluster, name)
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, boolFloat(st.Ready), cluster, name)
		for _, result := range []string{scoreboard.ResultSuccess, scoreboard.ResultError} {
			ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.CounterValue, float64(st.Runs[result]), cluster, name, result)
		}
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(st.SeriesDropped), cluster, name)
		ch <- prometheus.MustNewConstMetric(foldedDesc, prometheus.CounterValue, float64(st.DetectionsFolded), cluster, name)
		if st.Entities >= 0 {
			ch <- prometheus.MustNewConstMetric(entitiesDesc, prometheus.GaugeValue, float64(st.Entities), cluster, name)
			ch <- prometheus.MustNewConstMetric(evictedDesc, prometheus.CounterValue, float64(st.EntitiesEvicted), cluster, name)
		}
		ch <- prometheus.MustNewConstMetric(trainedDesc, prometheus.CounterValue, float64(st.TrainedWindows), cluster, name)
		ch <- prometheus.MustNewConstMetric(loadErrorsDesc, prometheus.CounterValue, float64(st.ModelLoadErrors), cluster, name)
		if !st.LastRun.IsZero() {
			ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, st.LastDuration.Seconds(), cluster, name)
			ch <- prometheus.MustNewConstMetric(lastRunDesc, prometheus.GaugeValue, float64(st.LastRun.UnixNano())/1e9, cluster, name)
		}
	}
	detections := map[scoreboard.DetectionKey]uint64{}
	for k, n := range snap.Detections {
		detections[scoreboard.DetectionKey{Cluster: calicolog.LabelValue(k.Cluster), Detector: k.Detector, Namespace: calicolog.LabelValue(k.Namespace)}] += n
	}
	for k, n := range detections {
		ch <- prometheus.MustNewConstMetric(detectionsDesc, prometheus.CounterValue, float64(n), k.Cluster, k.Detector, k.Namespace)
	}
	if !snap.NewestWindowEnd.IsZero() {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, c.now().Sub(snap.NewestWindowEnd).Seconds())
	}
	logTypes := make([]string, 0, len(snap.Records))
	for t := range snap.Records {
		logTypes = append(logTypes, t)
	}
	sort.Strings(logTypes)
	for _, t := range logTypes {
		ch <- prometheus.MustNewConstMetric(recordsDesc, prometheus.CounterValue, float64(snap.Records[t]), t)
		ch <- prometheus.MustNewConstMetric(malformedDesc, prometheus.CounterValue, float64(snap.Malformed[t]), t)
	}
	if !snap.ModelsSaved.IsZero() {
		ch <- prometheus.MustNewConstMetric(savedDesc, prometheus.GaugeValue, float64(snap.ModelsSaved.UnixNano())/1e9)
	}
	if snap.SourceKind == "elasticsearch" {
		ch <- prometheus.MustNewConstMetric(esUpDesc, prometheus.GaugeValue, boolFloat(snap.SourceUp))
		ch <- prometheus.MustNewConstMetric(esRetriesDesc, prometheus.CounterValue, float64(snap.SourceRetries))
	}
	for _, info := range c.detectors() {
		ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1, info.Name, string(info.Family), info.Techniques())
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// entitySeries is one entity's score, observed and expected values, with
// its label values in entityLabels order.
type entitySeries struct {
	key                       [5]string // cluster, detector, namespace, workload, type
	score, observed, expected float64
}

// less orders by label values in label-name order: cluster, detector,
// namespace, type, workload.
func (a entitySeries) less(b entitySeries) bool {
	for _, i := range [...]int{0, 1, 2, 4, 3} {
		if a.key[i] != b.key[i] {
			return a.key[i] < b.key[i]
		}
	}
	return false
}

// labelPairs are the entity's labels sorted by name, as the exposition
// wants them.
func (a entitySeries) labelPairs() []*dto.LabelPair {
	names := [...]string{"cluster", "detector", "namespace", "type", "workload"}
	values := [...]string{a.key[0], a.key[1], a.key[2], a.key[4], a.key[3]}
	pairs := make([]*dto.LabelPair, len(names))
	for i := range names {
		pairs[i] = &dto.LabelPair{Name: &names[i], Value: &values[i]}
	}
	return pairs
}

// entityMetric is a gauge of an entity: a constant metric whose label
// pairs are built once for the entity's three series.
type entityMetric struct {
	desc  *prometheus.Desc
	pairs []*dto.LabelPair
	value float64
}

func (m entityMetric) Desc() *prometheus.Desc { return m.desc }

func (m entityMetric) Write(out *dto.Metric) error {
	out.Label = m.pairs
	v := m.value
	out.Gauge = &dto.Gauge{Value: &v}
	return nil
}
