package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/feedback"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
)

// incidentLink is the /incident URL of an incident.
func incidentLink(id string) string { return "/incident?id=" + url.QueryEscape(id) }

// typeNames says in words what Calico's endpoint types are.
var typeNames = map[string]string{
	"wep":       "pods",
	"hep":       "host",
	"ns":        "network set",
	"net":       "network",
	"pub":       "public network",
	"pvt":       "private network",
	"namespace": "namespace",
}

// entityName writes an entity as a person reads it: "frontend-7d4f8b-*
// (pods) in namespace shop", "public network (outside the cluster)".
func entityName(e detect.Entity) string {
	kind := typeNames[e.Type]
	if kind == "" {
		kind = e.Type
	}
	var b strings.Builder
	switch {
	case e.Type == "namespace" || e.Workload == "*":
		b.WriteString("namespace " + e.Namespace + " as a whole")
	case e.Namespace == "" || e.Namespace == "-":
		switch e.Workload {
		case "pub":
			b.WriteString("public internet addresses (outside the cluster)")
		case "pvt":
			b.WriteString("private network addresses (outside the cluster)")
		default:
			b.WriteString(e.Workload + " (" + kind + ", outside any namespace)")
		}
	default:
		b.WriteString(e.Workload + " (" + kind + ") in namespace " + e.Namespace)
	}
	if e.Cluster != "" {
		b.WriteString(", cluster " + e.Cluster)
	}
	return b.String()
}

type incidentRow struct {
	incident.Incident
	Link     string
	Name     string
	Duration string
	Expected []feedback.Decision
}

func (p *Pages) incidentRows(ins []incident.Incident, now time.Time) []incidentRow {
	out := make([]incidentRow, len(ins))
	for i, in := range ins {
		out[i] = incidentRow{Incident: in, Link: incidentLink(in.ID), Name: entityName(in.Entity), Duration: duration(in.Duration())}
		if p.cfg.Feedback != nil {
			out[i].Expected = p.cfg.Feedback.ForIncident(in.ID)
		}
	}
	return out
}

// duration writes a span in days, hours and minutes: "1d 2h", "35m".
func duration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d <= 0 {
		return "0m"
	}
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%dd", days))
	}
	if hours > 0 {
		parts = append(parts, fmt.Sprintf("%dh", hours))
	}
	if mins > 0 && days == 0 {
		parts = append(parts, fmt.Sprintf("%dm", mins))
	}
	return strings.Join(parts, " ")
}

type detectorVerdict struct {
	V      detect.Verdict
	Link   string
	Chart  template.HTML
	Unit   string
	Window string
}

type incidentData struct {
	Cfg       Config
	In        incident.Incident
	Name      string
	Duration  string
	Verdicts  []detectorVerdict
	Evidence  []evidenceTable
	Decisions []feedback.Decision
	Expected  bool // a decision stands
	CanMark   bool
	Expiry    string
	Message   string
	Now       time.Time
	Glossary  []glossaryEntry
}

func (p *Pages) incident(w http.ResponseWriter, r *http.Request) {
	if p.cfg.Incidents == nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	id := q.Get("id")
	if id == "" && q.Get("workload") != "" {
		// A link by workload (Grafana's top anomalies): its newest incident.
		e := detect.Entity{Cluster: q.Get("cluster"), Namespace: q.Get("namespace"), Workload: q.Get("workload"), Type: q.Get("type")}
		if e.Type == "" {
			for _, t := range []string{"wep", "hep", "ns", "net", "namespace"} {
				if _, ok := p.cfg.Incidents.LatestFor(detect.Entity{Cluster: e.Cluster, Namespace: e.Namespace, Workload: e.Workload, Type: t}); ok {
					e.Type = t
					break
				}
			}
		}
		in, ok := p.cfg.Incidents.LatestFor(e)
		if !ok {
			http.Error(w, fmt.Sprintf("no incident of %s/%s in cluster %q", e.Namespace, e.Workload, e.Cluster), http.StatusNotFound)
			return
		}
		http.Redirect(w, r, incidentLink(in.ID), http.StatusFound)
		return
	}
	in, err := p.cfg.Incidents.Get(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	now := p.cfg.Now()
	d := incidentData{Cfg: p.cfg, In: in, Name: entityName(in.Entity), Duration: duration(in.Duration()), Now: now,
		Message: r.URL.Query().Get("msg"), Glossary: glossary}
	for _, det := range in.Detectors {
		v := in.Verdicts[det]
		points := p.history.Points(Key{Detector: det, Entity: in.Entity})
		unit := verdictUnit(v)
		d.Verdicts = append(d.Verdicts, detectorVerdict{V: v, Link: anomalyLink(v), Unit: unit,
			Chart:  timeChart(points, chartUnit(points, unit), 560, 170, in.Start, in.LastSeen),
			Window: v.Window.String()})
	}
	sort.SliceStable(d.Verdicts, func(i, j int) bool { return d.Verdicts[i].V.Score > d.Verdicts[j].V.Score })
	d.Evidence = incidentEvidence(in)
	if p.cfg.Feedback != nil {
		d.CanMark = true
		d.Decisions = p.cfg.Feedback.ForIncident(in.ID)
		for _, dec := range d.Decisions {
			if dec.Active(now) {
				d.Expected = true
			}
		}
		d.Expiry = duration(p.cfg.Feedback.Expiry())
	}
	render(w, incidentPage, d)
}

// who is the user making a request: the basic-auth user the web config
// let in, or "anonymous" when the exporter asks for none.
func who(r *http.Request) string {
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return u
	}
	return "anonymous"
}

// sameOrigin refuses a form posted from another site: browsers send
// Sec-Fetch-Site and Origin with a POST.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// feedbackPost takes the incident page's forms: mark expected, undo.
func (p *Pages) feedbackPost(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST the incident page's form", http.StatusMethodNotAllowed)
		return
	}
	if p.cfg.Incidents == nil || p.cfg.Feedback == nil {
		http.Error(w, "feedback is not enabled", http.StatusNotFound)
		return
	}
	if !sameOrigin(r) {
		http.Error(w, "cross-site form refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("incident")
	in, err := p.cfg.Incidents.Get(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var msg string
	switch action := r.PostForm.Get("action"); action {
	case feedback.ActionExpected:
		windows := in.AnomalousWindowList()
		comment := r.PostForm.Get("comment")
		if len(comment) > 500 {
			comment = comment[:500]
		}
		dec, err := p.cfg.Feedback.Mark(feedback.Request{Incident: in.ID, Entity: in.Entity, Detectors: in.Detectors,
			Windows: windows, By: who(r), Origin: feedback.OriginWeb, Comment: comment})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		msg = "Marked expected by " + dec.By + " until " + dec.Until.UTC().Format("2006-01-02 15:04Z") + "."
	case feedback.ActionUndo:
		dec, err := p.cfg.Feedback.Undo(r.PostForm.Get("decision"), who(r), feedback.OriginWeb)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		msg = "Decision " + dec.ID + " undone by " + dec.UndoneBy + "."
	default:
		http.Error(w, "unknown action "+template.HTMLEscapeString(action)+": want expected or undo", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, incidentLink(in.ID)+"&msg="+url.QueryEscape(msg), http.StatusSeeOther)
}

var incidentPage = template.Must(template.New("incident").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Cfg.Name}}: incident {{.In.ID}}</title>` + style + `</head><body>
` + header + `
<main>
{{if .Message}}<p class="note" id="message">{{.Message}}</p>{{end}}
<h2 id="title">Incident {{.In.ID}}: {{.Name}}</h2>
<table class="facts" id="facts">
<tr><th>State</th><td>{{if .In.Open}}<span class="bad">open</span>{{else}}<span class="ok">resolved</span> at {{ts .In.End}}{{end}}{{if .Expected}} <span class="pill expected">marked expected</span>{{end}}</td></tr>
<tr><th>Started</th><td>{{ts .In.Start}}</td></tr>
<tr><th>Last seen</th><td>{{ts .In.LastSeen}} ({{.Duration}} after the start, {{.In.Windows}} anomalous windows)</td></tr>
<tr><th>Peak</th><td>score <b>{{score .In.Peak}}</b> from {{.In.PeakDetector}}</td></tr>
<tr><th>Severity</th><td>{{.In.SeverityLabel}} ({{.In.Severity}} of 100)</td></tr>
<tr><th>Detectors</th><td>{{range $i, $d := .In.Detectors}}{{if $i}}, {{end}}{{$d}}{{end}}</td></tr>
</table>
<h2>What each detector saw</h2>
{{range .Verdicts}}<div class="detector">
<h3><a href="{{.Link}}">{{.V.Detector}}</a> <span class="muted">peak in the window {{ts .V.Window.Start}} to {{ts .V.Window.End}}</span></h3>
<p>Score <b>{{score .V.Score}}</b> against its threshold {{score .V.Threshold}}; observed <b>{{withUnit .V.Observed .Unit}}</b> where {{withUnit .V.Expected .Unit}} was expected.</p>
{{if .V.Summary}}<p class="summary">{{.V.Summary}}</p>{{end}}
{{.Chart}}
</div>{{end}}
<h2>Evidence</h2>
{{range .Evidence}}<h3>{{.Title}}</h3>{{if .Facts}}<p class="facts">{{range .Facts}}<span class="fact">{{.}}</span> {{end}}</p>{{end}}
<table class="evidence"><thead><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead><tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody></table>
{{else}}<p class="muted">No sample records were fetched for this incident.</p>{{end}}
<h2 id="feedback">Is this expected?</h2>
{{if .CanMark}}<p>Marking the incident expected tells the exporter this behaviour of {{.Name}} is normal for {{range $i, $d := .In.Detectors}}{{if $i}}, {{end}}{{$d}}{{end}}: detectors that learn a baseline learn the incident's windows and its later ones as normal, and none of them alerts on it for {{.Expiry}}. You can undo it.</p>
<form method="post" action="/incident/feedback" id="mark-expected"><input type="hidden" name="incident" value="{{.In.ID}}"><input type="hidden" name="action" value="expected">
<label>Why <input type="text" name="comment" size="60" maxlength="500" placeholder="e.g. nightly backup to the object store"></label> <button type="submit">Mark expected</button></form>
{{if .Decisions}}<table id="decisions"><thead><tr><th>Decision</th><th>By</th><th>When</th><th>Until</th><th>Why</th><th>From</th><th></th></tr></thead><tbody>
{{range .Decisions}}<tr class="decision"><td>{{.ID}}</td><td>{{.By}}</td><td>{{ts .At}}</td><td>{{ts .Until}}</td><td>{{.Comment}}</td><td>{{.Origin}}</td><td>{{if .UndoneBy}}undone by {{.UndoneBy}} at {{ts .UndoneAt}}{{else}}<form method="post" action="/incident/feedback"><input type="hidden" name="incident" value="{{.Incident}}"><input type="hidden" name="action" value="undo"><input type="hidden" name="decision" value="{{.ID}}"><button type="submit">Undo</button></form>{{end}}</td></tr>
{{end}}</tbody></table>{{end}}
{{else}}<p class="muted">Feedback is not enabled on this exporter.</p>{{end}}
<h2>Terms</h2>
<dl class="glossary">{{range .Glossary}}<dt>{{.Term}}</dt><dd>{{.Meaning}}</dd>{{end}}</dl>
</main></body></html>
`))

// incidentEvidence is each detector's sample records, each record once:
// first the detectors that name a technique (a scan's probes, a DGA's
// names: what the incident rests on), then by score.
func incidentEvidence(in incident.Incident) []evidenceTable {
	dets := append([]string(nil), in.Detectors...)
	sort.SliceStable(dets, func(i, j int) bool {
		_, ti := notify.MitreOf(dets[i])
		_, tj := notify.MitreOf(dets[j])
		if ti != tj {
			return ti
		}
		return in.Verdicts[dets[i]].Score > in.Verdicts[dets[j]].Score
	})
	seen := map[string]bool{}
	var out []evidenceTable
	for _, det := range dets {
		v := in.Verdicts[det]
		fresh := detect.Verdict{Evidence: map[string][]json.RawMessage{}}
		for log, recs := range v.Evidence {
			for _, r := range recs {
				if k := log + "\x00" + string(r); !seen[k] {
					seen[k] = true
					fresh.Evidence[log] = append(fresh.Evidence[log], r)
				}
			}
		}
		for _, t := range evidenceTables(fresh, nil) {
			t.Title = det + ": " + t.Title
			out = append(out, t)
		}
	}
	return out
}
