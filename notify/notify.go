// Package notify owns what the alert and event notifiers share: which
// verdicts become alerts (minimum score, silenced detectors), how the
// anomalies of one workload in one window are grouped across detectors and
// logs, and the words, links and quarantine policy an alert carries.
package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// Policy says which verdicts become alerts and events.
type Policy struct {
	// MinScore is the lowest score that alerts, on top of each detector's
	// own threshold (0: the threshold alone decides).
	MinScore float64
	// Silenced detectors raise no alert and no event.
	Silenced map[string]bool
	// Severity is Calico's 0..100 severity (AD_ALERT_SEVERITY) of every
	// detector without its own entry in DetectorSeverity.
	Severity int
	// DetectorSeverity overrides Severity per detector (a GlobalAlert's
	// spec.severity).
	DetectorSeverity map[string]int
	// SeverityByFamily labels alerts by the detector's family and how far
	// the score is above its threshold (FamilySeverity) instead of by
	// Severity: set when no severity was configured, so an alert's label
	// says what it means. A detector's own DetectorSeverity still wins.
	SeverityByFamily bool
	// DetectorMinScore raises MinScore for one detector (our
	// configuration file's score_threshold).
	DetectorMinScore map[string]float64
	// Muted reports a verdict silenced for now (our configuration file's
	// silences by detector, namespace and workload, until an end time);
	// nil mutes nothing.
	Muted func(detector, namespace, workload string, now time.Time) bool
	// Texts are the summary and description of a detector's alerts and
	// events (a GlobalAlert's spec.summary and spec.description).
	Texts map[string]Text
	// Now is the clock silences are judged by; nil means time.Now.
	Now func() time.Time
	// Expected reports a detector's verdict on an entity that a user
	// marked expected (the feedback package's decisions), judged at the
	// verdict's window end; nil marks nothing expected.
	Expected func(detector string, e detect.Entity, t time.Time) bool
}

// Text is the wording a user configured for a detector's alerts.
type Text struct {
	Summary, Description string
}

// Validate reports a policy that cannot be used, naming the field.
func (p Policy) Validate() error {
	if p.MinScore < 0 || p.MinScore > 1 {
		return fmt.Errorf("minimum score %v is outside 0..1", p.MinScore)
	}
	if p.Severity < 0 || p.Severity > 100 {
		return fmt.Errorf("severity %d is outside 0..100", p.Severity)
	}
	for d, s := range p.DetectorSeverity {
		if s < 0 || s > 100 {
			return fmt.Errorf("severity %d of detector %s is outside 0..100", s, d)
		}
	}
	for d, s := range p.DetectorMinScore {
		if s < 0 || s > 1 {
			return fmt.Errorf("score threshold %v of detector %s is outside 0..1", s, d)
		}
	}
	return nil
}

// Alerts reports whether v raises an alert under the policy.
func (p Policy) Alerts(v detect.Verdict) bool {
	if !v.Anomalous() || v.Score < p.MinScore || p.Silenced[v.Detector] || v.Score < p.DetectorMinScore[v.Detector] {
		return false
	}
	if p.Muted != nil {
		now := time.Now
		if p.Now != nil {
			now = p.Now
		}
		if p.Muted(v.Detector, v.Entity.Namespace, v.Entity.Workload, now()) {
			return false
		}
	}
	if p.Expected != nil && p.Expected(v.Detector, v.Entity, v.Window.End) {
		return false
	}
	return true
}

// LivePolicy holds the policy in force; a configuration reload replaces
// it while notifiers read it. The zero value holds the zero Policy.
type LivePolicy struct {
	p atomic.Pointer[Policy]
}

// NewLivePolicy holds p.
func NewLivePolicy(p Policy) *LivePolicy {
	l := &LivePolicy{}
	l.Set(p)
	return l
}

// Get returns the policy in force.
func (l *LivePolicy) Get() Policy {
	if p := l.p.Load(); p != nil {
		return *p
	}
	return Policy{}
}

// Set puts p in force.
func (l *LivePolicy) Set(p Policy) { l.p.Store(&p) }

// SeverityOf is the Calico severity (0..100) of detector's alerts.
func (p Policy) SeverityOf(detector string) int {
	if s, ok := p.DetectorSeverity[detector]; ok {
		return s
	}
	return p.Severity
}

// SeverityLabelOf is the severity label of v's alert under the policy.
func (p Policy) SeverityLabelOf(v detect.Verdict) string {
	if s, own := p.DetectorSeverity[v.Detector]; own || !p.SeverityByFamily {
		if !own {
			s = p.Severity
		}
		return SeverityLabel(s)
	}
	family := detect.Security
	if info, ok := detect.Lookup(v.Detector); ok {
		family = info.Family
	}
	return FamilySeverity(family, v.Score, v.Threshold)
}

// FamilySeverity is the severity label of an anomaly by its detector's
// family and its score: a security detector's anomaly (security, or both
// security and performance) is a warning, critical when the score is far
// above the threshold (at least halfway from it to 1: for a count
// detector, three times its count); a performance detector's is info,
// warning when far above. The rules (rules/) use the same table.
func FamilySeverity(f detect.Family, score, threshold float64) string {
	far := score >= FarAbove(threshold)
	switch {
	case f == detect.Performance && far:
		return "warning"
	case f == detect.Performance:
		return "info"
	case far:
		return "critical"
	}
	return "warning"
}

// FarAbove is the score far above threshold: halfway from it to 1.
func FarAbove(threshold float64) float64 { return (1 + threshold) / 2 }

// SeverityLabel maps Calico's 0..100 severity onto the severity label
// Prometheus alerts carry: 70 and above is critical, 40 and above warning,
// below that info.
func SeverityLabel(severity int) string {
	switch {
	case severity >= 70:
		return "critical"
	case severity >= 40:
		return "warning"
	}
	return "info"
}

// Anomaly is one alerting verdict with what the other detectors found about
// the same workload in the same window.
type Anomaly struct {
	detect.Verdict
	// Detectors lists every detector that flagged the workload in the
	// window, this one included, sorted.
	Detectors []string
	// Evidence is the suspicious records of every detector that flagged
	// the workload in the window, grouped by log name (flows, dns, l7) as
	// Calico grouped them, without duplicates.
	Evidence map[string][]json.RawMessage
	// Text is the wording configured for the detector's alerts, if any.
	Text Text
}

// Group picks the verdicts that alert under p and groups them by workload
// (cluster, namespace, workload, type) and window, so that each anomaly
// carries the records of every log that showed the workload anomalous.
// The result is sorted by detector, then entity, for a stable output.
func Group(p Policy, verdicts []detect.Verdict) []Anomaly {
	type groupKey struct {
		entity string
		start  int64
	}
	groups := map[groupKey][]int{}
	var picked []detect.Verdict
	for _, v := range verdicts {
		if !p.Alerts(v) {
			continue
		}
		k := groupKey{v.Entity.Key(), v.Window.Start.UnixNano()}
		groups[k] = append(groups[k], len(picked))
		picked = append(picked, v)
	}
	out := make([]Anomaly, 0, len(picked))
	for _, idx := range groups {
		var dets []string
		evidence := map[string][]json.RawMessage{}
		seen := map[string]bool{}
		for _, i := range idx {
			dets = append(dets, picked[i].Detector)
			logs := make([]string, 0, len(picked[i].Evidence))
			for log := range picked[i].Evidence {
				logs = append(logs, log)
			}
			sort.Strings(logs)
			for _, log := range logs {
				for _, rec := range picked[i].Evidence[log] {
					if key := log + "\x00" + string(rec); !seen[key] {
						seen[key] = true
						evidence[log] = append(evidence[log], rec)
					}
				}
			}
		}
		sort.Strings(dets)
		dets = compactStrings(dets)
		for _, i := range idx {
			out = append(out, Anomaly{Verdict: picked[i], Detectors: dets, Evidence: evidence, Text: p.Texts[picked[i].Detector]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Detector != b.Detector {
			return a.Detector < b.Detector
		}
		if ka, kb := a.Entity.Key(), b.Entity.Key(); ka != kb {
			return ka < kb
		}
		return a.Window.Start.Before(b.Window.Start)
	})
	return out
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Others lists the other detectors that flagged the workload in the window.
func (a Anomaly) Others() []string {
	var out []string
	for _, d := range a.Detectors {
		if d != a.Detector {
			out = append(out, d)
		}
	}
	return out
}

// Title is a one-line summary: "port_scan: shop/frontend-7d4f8b-* is anomalous".
func (a Anomaly) Title() string {
	ns, wl := calicolog.LabelValue(a.Entity.Namespace), calicolog.LabelValue(a.Entity.Workload)
	if a.Text.Summary != "" {
		return fmt.Sprintf("%s: %s/%s", a.Text.Summary, ns, wl)
	}
	return fmt.Sprintf("%s: %s/%s is anomalous", a.Detector, ns, wl)
}

// shortNames returns s with the entity's names, which the watched
// workloads write and which may be of any length, cut as labels are
// (calicolog.LabelValue).
func (a Anomaly) shortNames(s string) string {
	for _, name := range []string{a.Entity.Workload, a.Entity.Namespace, a.Entity.Cluster} {
		if short := calicolog.LabelValue(name); short != name && name != "" {
			s = strings.ReplaceAll(s, name, short)
		}
	}
	return s
}

// Description is a human sentence or two about the anomaly, in the style of
// Calico's "port_scan detector found anomalies. ...".
func (a Anomaly) Description() string {
	var b strings.Builder
	if d := strings.TrimSpace(a.Text.Description); d != "" {
		b.WriteString(strings.TrimSuffix(d, "."))
		b.WriteString(". ")
	}
	fmt.Fprintf(&b, "%s detector found anomalies in cluster %s: ", a.Detector, calicolog.LabelValue(a.Entity.Cluster))
	if a.Summary != "" {
		b.WriteString(a.shortNames(a.Summary))
	} else {
		fmt.Fprintf(&b, "%s in namespace %s observed %g where %g was expected", calicolog.LabelValue(a.Entity.Workload), calicolog.LabelValue(a.Entity.Namespace), a.Observed, a.Expected)
	}
	fmt.Fprintf(&b, " (score %.2f, threshold %.2f, window %s).", a.Score, a.Threshold, a.Window)
	if others := a.Others(); len(others) > 0 {
		fmt.Fprintf(&b, " Also flagged in the same window by %s.", strings.Join(others, ", "))
	}
	return b.String()
}

// EvidenceJSON is the evidence grouped by log name as a JSON object, with
// whole records dropped from the end of each log's list until it fits in
// maxBytes (0 for no bound).
func (a Anomaly) EvidenceJSON(maxBytes int) string {
	ev := map[string][]json.RawMessage{}
	for k, v := range a.Evidence {
		ev[k] = append([]json.RawMessage(nil), v...)
	}
	for {
		b, err := json.Marshal(ev)
		if err != nil {
			return "{}"
		}
		if maxBytes <= 0 || len(b) <= maxBytes {
			return string(b)
		}
		// Drop one record from the longest list.
		longest := ""
		for k, v := range ev {
			if len(v) > len(ev[longest]) || (len(v) == len(ev[longest]) && k < longest) {
				longest = k
			}
		}
		if len(ev[longest]) == 0 {
			return "{}"
		}
		ev[longest] = ev[longest][:len(ev[longest])-1]
	}
}

// DashboardURL is the workload dashboard's address in Grafana at base, or
// "" when base is empty.
func DashboardURL(base string, v detect.Verdict) string {
	if base == "" {
		return ""
	}
	q := url.Values{}
	q.Set("var-cluster", v.Entity.Cluster)
	q.Set("var-namespace", v.Entity.Namespace)
	q.Set("var-workload", v.Entity.Workload)
	q.Set("var-detector", v.Detector)
	if !v.Window.Start.IsZero() {
		q.Set("from", fmt.Sprint(v.Window.Start.Add(-time.Hour).UnixMilli()))
		q.Set("to", fmt.Sprint(v.Window.End.Add(time.Hour).UnixMilli()))
	}
	return strings.TrimRight(base, "/") + "/d/calico-anomaly-workload?" + q.Encode()
}

// replicaSetAggr matches Calico's name_aggr of a Deployment's pods:
// <deployment>-<pod-template-hash>-*.
var replicaSetAggr = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)-([a-z0-9]{5,10})-\*$`)

// dnsLabel matches a Kubernetes name that can be a label value or a
// namespace.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// QuarantinePolicy is a ready-to-apply Kubernetes NetworkPolicy (YAML)
// that cuts the workload's pods off from all ingress and egress: pods of a
// Deployment are selected by their ReplicaSet's pod-template-hash, other
// aggregated names (a StatefulSet's or DaemonSet's "web-*") by the
// pod-name prefix Calico shows, which needs an app label to match and is
// said so in a comment. It returns "" for endpoints that are not pods (host
// endpoints, networks), where no NetworkPolicy applies.
func QuarantinePolicy(e detect.Entity) string {
	if e.Type != "wep" || !dnsLabel.MatchString(e.Namespace) {
		return ""
	}
	var selector, comment, name string
	if m := replicaSetAggr.FindStringSubmatch(e.Workload); m != nil {
		name = m[1]
		selector = "      pod-template-hash: " + m[3] + "\n"
		comment = fmt.Sprintf("# Quarantine of %s/%s: denies all ingress and egress of the pods of ReplicaSet %s-%s.\n", e.Namespace, e.Workload, m[1], m[3])
	} else {
		base := strings.TrimSuffix(e.Workload, "-*")
		if !dnsLabel.MatchString(base) {
			return ""
		}
		name = base
		selector = "      app: " + base + "\n"
		comment = fmt.Sprintf("# Quarantine of %s/%s: denies all ingress and egress of its pods.\n# Check that its pods carry the label app=%s before applying.\n", e.Namespace, e.Workload, base)
	}
	policyName := "quarantine-" + name
	if len(policyName) > 63 {
		policyName = strings.TrimRight(policyName[:63], "-")
	}
	return comment +
		"apiVersion: networking.k8s.io/v1\n" +
		"kind: NetworkPolicy\n" +
		"metadata:\n" +
		"  name: " + policyName + "\n" +
		"  namespace: " + e.Namespace + "\n" +
		"  labels:\n" +
		"    app.kubernetes.io/managed-by: calico-anomaly-exporter\n" +
		"spec:\n" +
		"  podSelector:\n" +
		"    matchLabels:\n" +
		selector +
		"  policyTypes:\n" +
		"    - Ingress\n" +
		"    - Egress\n"
}

// Mitre is the MITRE ATT&CK classification of a detector's anomalies,
// owned by the detector registry (detect.Info.Mitre).
type Mitre = detect.Mitre

// MitreOf returns the classification of detector from the registry, and
// false for detectors (performance ones) that no technique fits and for
// names the registry does not know.
func MitreOf(detector string) (Mitre, bool) {
	info, ok := detect.Lookup(detector)
	if !ok || info.Mitre == nil {
		return Mitre{}, false
	}
	return *info.Mitre, true
}

// RunbookURL is the runbook section on what to do about an anomaly.
const RunbookURL = "https://github.com/calico-anomaly-exporter/calico-anomaly-exporter/blob/main/docs/runbook.md#calicoanomalyscorehigh"

// StatusURL is the exporter's status page of the anomaly, under base (the
// exporter's external URL), or "" when base is empty.
func StatusURL(base string, v detect.Verdict) string {
	if base == "" {
		return ""
	}
	q := url.Values{}
	q.Set("detector", v.Detector)
	q.Set("cluster", v.Entity.Cluster)
	q.Set("namespace", v.Entity.Namespace)
	q.Set("workload", v.Entity.Workload)
	q.Set("type", v.Entity.Type)
	return strings.TrimRight(base, "/") + "/anomaly?" + q.Encode()
}

// IncidentURL is the exporter's page of incident id under base (the
// exporter's external URL), or "" when base is empty.
func IncidentURL(base, id string) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/incident?id=" + url.QueryEscape(id)
}
