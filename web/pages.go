package web

import (
	"bytes"
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
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Extras render what other parts of the exporter make of an anomaly: the
// alert as sent to Alertmanager, the Calico event document and the
// quarantine NetworkPolicy. Each may be nil; the page then leaves it out.
type Extras struct {
	Alert      func(detect.Verdict) ([]byte, error)
	Event      func(detect.Verdict) ([]byte, error)
	Quarantine func(detect.Verdict) (string, error)
}

// Config is what the pages show and link to.
type Config struct {
	Name        string // the exporter's name, in titles
	Version     string
	MetricsPath string // link to the metrics
	ConfigPath  string // link to the effective configuration; "" for none
	GrafanaURL  string // Grafana's base URL; "" for no dashboard links
	// MaxAnomalies bounds the rows of the status page (0: 1000).
	MaxAnomalies int
	Now          func() time.Time
	Extras       Extras
	// Incidents, when set, makes the status page lead with incidents and
	// serves /incident.
	Incidents *incident.Tracker
	// Feedback, when set with Incidents, lets users mark an incident
	// expected (and undo it) on its page.
	Feedback *feedback.Store
}

// maxResolvedShown bounds the resolved incidents on the status page.
const maxResolvedShown = 50

// Pages serves /, /anomaly, /incident and the incident feedback form.
type Pages struct {
	cfg     Config
	board   *scoreboard.Scoreboard
	history *History
}

// New returns the pages over the scoreboard and the score history.
func New(cfg Config, board *scoreboard.Scoreboard, history *History) *Pages {
	if cfg.MaxAnomalies <= 0 {
		cfg.MaxAnomalies = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MetricsPath == "" {
		cfg.MetricsPath = "/metrics"
	}
	return &Pages{cfg: cfg, board: board, history: history}
}

func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		p.status(w, r)
	case "/anomaly":
		p.anomaly(w, r)
	case "/incident":
		p.incident(w, r)
	case "/incident/feedback":
		p.feedbackPost(w, r)
	default:
		http.NotFound(w, r)
	}
}

type detectorRow struct {
	scoreboard.DetectorState
	Age string
}

type anomalyRow struct {
	V     detect.Verdict
	Now   bool
	Link  string
	Chart template.HTML
}

type statusData struct {
	Cfg       Config
	Now       time.Time
	Snap      scoreboard.Snapshot
	Detectors []detectorRow
	// Clusters is true when the exporter watches several clusters: the
	// detectors are then listed per cluster.
	Clusters   bool
	Anomalies  []anomalyRow
	More       int
	Lag        string
	Dashboards string
	// Incidents is true when incidents are tracked; Open and Resolved
	// list them.
	Incidents bool
	Open      []incidentRow
	Resolved  []incidentRow
	Glossary  []glossaryEntry
}

// anomalyLink is the /anomaly URL of a verdict.
func anomalyLink(v detect.Verdict) string {
	q := url.Values{}
	q.Set("detector", v.Detector)
	q.Set("cluster", v.Entity.Cluster)
	q.Set("namespace", v.Entity.Namespace)
	q.Set("workload", v.Entity.Workload)
	q.Set("type", v.Entity.Type)
	return "/anomaly?" + q.Encode()
}

// grafanaLink is the workload dashboard's URL for a verdict.
func (p *Pages) grafanaLink(v detect.Verdict) string {
	if p.cfg.GrafanaURL == "" {
		return ""
	}
	q := url.Values{}
	q.Set("var-cluster", v.Entity.Cluster)
	q.Set("var-namespace", v.Entity.Namespace)
	q.Set("var-workload", v.Entity.Workload)
	q.Set("var-detector", v.Detector)
	return strings.TrimRight(p.cfg.GrafanaURL, "/") + "/d/calico-anomaly-workload?" + q.Encode()
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func (p *Pages) status(w http.ResponseWriter, _ *http.Request) {
	now := p.cfg.Now()
	snap := p.board.Snapshot()
	d := statusData{Cfg: p.cfg, Now: now, Snap: snap}
	d.Clusters = len(snap.Clusters) > 1
	if d.Clusters {
		for _, st := range snap.ClusterDetectors {
			d.Detectors = append(d.Detectors, detectorRow{DetectorState: st, Age: age(time.Now(), st.LastRun)})
		}
	} else {
		for _, st := range snap.Detectors {
			d.Detectors = append(d.Detectors, detectorRow{DetectorState: st, Age: age(time.Now(), st.LastRun)}) // runs are timed by the wall clock
		}
	}
	sort.Slice(d.Detectors, func(i, j int) bool {
		a, b := d.Detectors[i], d.Detectors[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Cluster < b.Cluster
	})
	anomalies := p.history.Anomalies()
	if len(anomalies) > p.cfg.MaxAnomalies {
		d.More = len(anomalies) - p.cfg.MaxAnomalies
		anomalies = anomalies[:p.cfg.MaxAnomalies]
	}
	d.Anomalies = make([]anomalyRow, len(anomalies))
	for i, a := range anomalies {
		v := a.Verdict
		d.Anomalies[i] = anomalyRow{V: v, Now: a.Now, Link: anomalyLink(v),
			Chart: sparkline(p.history.Points(Key{Detector: v.Detector, Entity: v.Entity}), 160, 32)}
	}
	if !snap.NewestWindowEnd.IsZero() {
		d.Lag = now.Sub(snap.NewestWindowEnd).Round(time.Second).String()
	}
	if p.cfg.GrafanaURL != "" {
		d.Dashboards = strings.TrimRight(p.cfg.GrafanaURL, "/") + "/d/calico-anomaly-overview"
	}
	if p.cfg.Incidents != nil {
		d.Incidents = true
		open, resolved := p.cfg.Incidents.List()
		if len(resolved) > maxResolvedShown {
			resolved = resolved[:maxResolvedShown]
		}
		d.Open, d.Resolved = p.incidentRows(open, now), p.incidentRows(resolved, now)
		d.Glossary = glossary
	}
	render(w, statusPage, d)
}

type evidenceLog struct {
	Log     string
	Records []string
}

type anomalyData struct {
	Cfg        Config
	V          detect.Verdict
	Current    bool // anomalous in one of the recent windows
	Now        bool // anomalous in the latest window
	Points     []Point
	Chart      template.HTML
	Spark      template.HTML
	Evidence   []evidenceLog
	Grafana    string
	Alert      string
	Event      string
	Quarantine string
	Errors     []string
	// Name is the entity in words, Unit the unit of observed and
	// expected, LastAnomalous the end of the newest anomalous window the
	// chart shows (zero: none), Incident the entity's newest incident.
	Name          string
	Unit          string
	LastAnomalous time.Time
	Incident      string
	Tables        []evidenceTable
	Glossary      []glossaryEntry
}

func (p *Pages) anomaly(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	k := Key{Detector: q.Get("detector"), Entity: detect.Entity{Cluster: q.Get("cluster"), Namespace: q.Get("namespace"), Workload: q.Get("workload"), Type: q.Get("type")}}
	points := p.history.Points(k)
	a, current := p.history.Anomaly(k)
	v := a.Verdict
	if !current && len(points) == 0 {
		http.Error(w, fmt.Sprintf("no recent verdict of detector %q on %s/%s in cluster %q", k.Detector, k.Namespace, k.Workload, k.Cluster), http.StatusNotFound)
		return
	}
	if !current {
		last := points[len(points)-1]
		v = detect.Verdict{Detector: k.Detector, Entity: k.Entity, Score: last.Score, Threshold: last.Threshold, Observed: last.Observed, Expected: last.Expected, Unit: last.Unit}
	}
	d := anomalyData{Cfg: p.cfg, V: v, Current: current, Now: a.Now, Points: points, Grafana: p.grafanaLink(v),
		Name: entityName(k.Entity), Unit: verdictUnit(v), Glossary: glossary}
	d.Chart = timeChart(points, chartUnit(points, d.Unit), 640, 170, time.Time{}, time.Time{})
	for _, pt := range points {
		if pt.Score >= pt.Threshold {
			d.LastAnomalous = pt.WindowEnd
		}
	}
	if p.cfg.Incidents != nil {
		if in, ok := p.cfg.Incidents.LatestFor(k.Entity); ok {
			d.Incident = incidentLink(in.ID)
		}
	}
	if current {
		d.Tables = evidenceTables(v, nil)
	}
	logs := make([]string, 0, len(v.Evidence))
	for l := range v.Evidence {
		logs = append(logs, l)
	}
	sort.Strings(logs)
	for _, l := range logs {
		e := evidenceLog{Log: l}
		for _, raw := range v.Evidence[l] {
			var buf bytes.Buffer
			if json.Indent(&buf, raw, "", "  ") != nil {
				buf.Reset()
				buf.Write(raw)
			}
			e.Records = append(e.Records, buf.String())
		}
		d.Evidence = append(d.Evidence, e)
	}
	if current {
		x := p.cfg.Extras
		if x.Alert != nil {
			if b, err := x.Alert(v); err != nil {
				d.Errors = append(d.Errors, "alert: "+err.Error())
			} else {
				d.Alert = indentJSON(b)
			}
		}
		if x.Event != nil {
			if b, err := x.Event(v); err != nil {
				d.Errors = append(d.Errors, "event: "+err.Error())
			} else {
				d.Event = indentJSON(b)
			}
		}
		if x.Quarantine != nil {
			if s, err := x.Quarantine(v); err != nil {
				d.Errors = append(d.Errors, "quarantine policy: "+err.Error())
			} else {
				d.Quarantine = s
			}
		}
	}
	render(w, anomalyPage, d)
}

func indentJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The pages load nothing from anywhere and run no script.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"filters": func(terms []source.Term) string {
		parts := make([]string, len(terms))
		for i, t := range terms {
			parts[i] = t.Field + " in [" + strings.Join(t.Values, ", ") + "]"
		}
		return strings.Join(parts, " and ")
	},
	"score":    func(f float64) string { return fmt.Sprintf("%.3f", f) },
	"withUnit": withUnit,
	"num":      compact,
	"dur":      func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
}

const style = `<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#24292e;background:#fff}
header{background:#24292e;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header h1{font-size:18px;margin:0}header a{color:#c8e1ff}
main{padding:16px 20px;max-width:1200px}
h2{font-size:16px;border-bottom:1px solid #e1e4e8;padding-bottom:4px;margin-top:24px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaecef;vertical-align:middle}
th{background:#f6f8fa;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#22863a}.bad{color:#cb2431;font-weight:600}.muted{color:#6a737d}
.summary{max-width:420px}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:360px;font-size:12px}
.pill{display:inline-block;padding:0 6px;border-radius:8px;background:#ffeef0;color:#cb2431;font-size:12px}
.pill.expected{background:#dcffe4;color:#22863a}
.sev{display:inline-block;padding:0 6px;border-radius:4px;font-size:12px;color:#fff;background:#6a737d}
.sev.sev-critical{background:#cb2431}.sev.sev-warning{background:#b08800}
.facts th{width:120px;background:none}.fact{display:inline-block;background:#f1f8ff;border-radius:4px;padding:2px 6px;margin:2px}
.note{background:#dcffe4;padding:6px 10px;border-radius:4px}
table.evidence td{font-size:12px;font-family:ui-monospace,monospace}
.glossary dt{font-weight:600;margin-top:6px}.glossary dd{margin-left:16px;color:#444}
</style>`

const header = `<header><h1>{{.Cfg.Name}}</h1><a href="/">Status</a><a href="{{.Cfg.MetricsPath}}">Metrics</a>{{if .Cfg.ConfigPath}}<a href="{{.Cfg.ConfigPath}}">Configuration</a>{{end}}{{if .Cfg.GrafanaURL}}<a href="{{.Cfg.GrafanaURL}}">Grafana</a>{{end}}<span class="muted">{{.Cfg.Version}}</span></header>`

var statusPage = template.Must(template.New("status").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Cfg.Name}}: status</title>` + style + `</head><body>
` + header + `
<main>
<p>Source <b>{{.Snap.SourceKind}}</b>: {{if .Snap.SourceUp}}<span class="ok">up</span>{{else}}<span class="bad">down</span>{{end}}{{if .Snap.SourceRetries}} ({{.Snap.SourceRetries}} retries){{end}}.
Newest window processed ends {{ts .Snap.NewestWindowEnd}}{{if .Lag}} ({{.Lag}} ago){{end}}.{{if .Dashboards}} <a href="{{.Dashboards}}">Overview dashboard</a>.{{end}}</p>
{{if .Incidents}}<h2>Open incidents <span class="pill" id="open-count">{{len .Open}}</span></h2>
{{if .Open}}<table id="open-incidents">` + incidentTableHead + `<tbody>
{{range .Open}}` + incidentTableRow + `{{end}}</tbody></table>
{{else}}<p class="ok" id="no-incidents">No open incident.</p>{{end}}
<h2>Recently resolved incidents <span class="muted">({{len .Resolved}})</span></h2>
{{if .Resolved}}<table id="resolved-incidents">` + incidentTableHead + `<tbody>
{{range .Resolved}}` + incidentTableRow + `{{end}}</tbody></table>
{{else}}<p class="muted">None in the last day.</p>{{end}}{{end}}
<h2>Anomalies of the last hour <span class="pill" id="anomaly-count">{{len .Anomalies}}{{if .More}}+{{.More}}{{end}}</span></h2>
{{if .Anomalies}}<table id="anomalies"><thead><tr><th>Detector</th><th>Cluster</th><th>Namespace</th><th>Workload</th><th class="num">Score</th><th class="num">Threshold</th><th>Recent scores</th><th>Window</th><th>What</th></tr></thead><tbody>
{{range .Anomalies}}<tr class="anomaly"><td>{{.V.Detector}}</td><td>{{.V.Entity.Cluster}}</td><td>{{.V.Entity.Namespace}}</td><td><a href="{{.Link}}">{{.V.Entity.Workload}}</a></td><td class="num bad">{{score .V.Score}}</td><td class="num">{{score .V.Threshold}}</td><td>{{.Chart}}</td><td>{{if .Now}}<b>now</b>{{else}}{{ts .V.Window.End}}{{end}}</td><td class="summary">{{.V.Summary}}</td></tr>
{{end}}</tbody></table>{{if .More}}<p class="muted">{{.More}} more not shown.</p>{{end}}
{{else}}<p class="ok" id="no-anomalies">No workload has been anomalous in the last hour.</p>{{end}}
<h2>Detectors</h2>
<table id="detectors"><thead><tr><th>Detector</th>{{if .Clusters}}<th>Cluster</th>{{end}}<th>Model</th><th class="num">Threshold</th><th>Last run</th><th class="num">Duration</th><th>Last window</th><th class="num">Runs ok / failed</th><th>Last error</th></tr></thead><tbody>
{{$clusters := .Clusters}}{{range .Detectors}}<tr><td>{{.Name}}</td>{{if $clusters}}<td>{{.Cluster}}</td>{{end}}<td>{{if .Ready}}<span class="ok">ready</span>{{else}}<span class="muted">learning</span>{{end}}</td><td class="num">{{score .Threshold}}</td><td>{{.Age}}</td><td class="num">{{dur .LastDuration}}</td><td>{{ts .LastWindow.End}}</td><td class="num">{{index .Runs "success"}} / {{index .Runs "error"}}</td><td class="bad">{{.LastError}}</td></tr>
{{end}}</tbody></table>
{{if .Glossary}}<h2>Terms</h2><dl class="glossary">{{range .Glossary}}<dt>{{.Term}}</dt><dd>{{.Meaning}}</dd>{{end}}</dl>{{end}}
</main></body></html>
`))

const incidentTableHead = `<thead><tr><th>Severity</th><th>Incident</th><th>Workload</th><th>Detectors</th><th class="num" title="highest score of the incident, 0 to 1">Peak</th><th>Started (UTC)</th><th>Last seen (UTC)</th><th class="num">Lasted</th><th>Feedback</th></tr></thead>`

const incidentTableRow = `<tr class="incident sev-{{.SeverityLabel}}"><td><span class="sev sev-{{.SeverityLabel}}">{{.SeverityLabel}}</span></td><td><a href="{{.Link}}">{{.ID}}</a></td><td>{{.Name}}</td><td>{{range $i, $d := .Detectors}}{{if $i}}, {{end}}{{$d}}{{end}}</td><td class="num bad" title="from {{.PeakDetector}}">{{score .Peak}}</td><td>{{ts .Start}}</td><td>{{if .Open}}{{ts .LastSeen}}{{else}}{{ts .LastSeen}}, resolved {{ts .End}}{{end}}</td><td class="num">{{.Duration}}</td><td>{{range .Expected}}{{if not .UndoneBy}}<span class="pill expected">expected ({{.By}})</span>{{end}}{{end}}</td></tr>
`

var anomalyPage = template.Must(template.New("anomaly").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Cfg.Name}}: {{.V.Detector}} {{.V.Entity.Namespace}}/{{.V.Entity.Workload}}</title>` + style + `</head><body>
` + header + `
<main>
<h2 id="title">{{.V.Detector}}: {{.Name}}</h2>
<p>{{if .Current}}<span class="bad">Anomalous{{if .Now}} now{{end}}</span> in the window {{ts .V.Window.Start}} to {{ts .V.Window.End}}{{else if not .LastAnomalous.IsZero}}<span class="muted">Last anomalous in the window ending {{ts .LastAnomalous}}</span>; the latest window is normal{{else}}<span class="ok">Not anomalous</span> in the windows shown{{end}}:
score <b>{{score .V.Score}}</b> against threshold {{score .V.Threshold}}; observed <b>{{withUnit .V.Observed .Unit}}</b>, expected {{withUnit .V.Expected .Unit}}.{{if .Incident}} <a href="{{.Incident}}" id="incident-link">Its incident</a>.{{end}}{{if .Grafana}} <a href="{{.Grafana}}">Workload dashboard</a>.{{end}}</p>
{{if .V.Summary}}<p id="summary">{{.V.Summary}}</p>{{end}}
<h2>Score against its threshold, and observed against expected, last {{len .Points}} windows</h2>
{{.Chart}}
<h2>Evidence</h2>
{{range .Tables}}<h3>{{.Title}}</h3>{{if .Facts}}<p class="facts">{{range .Facts}}<span class="fact">{{.}}</span> {{end}}</p>{{end}}
<table class="evidence"><thead><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead><tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody></table>
{{end}}
{{range .Evidence}}<details><summary>{{.Log}}: the {{len .Records}} records as JSON</summary>{{range .Records}}<pre class="evidence">{{.}}</pre>{{end}}</details>{{else}}<p class="muted">No sample records.</p>{{end}}
{{range .V.EvidenceQuery}}<p class="muted">All of them: {{.Log}} records in the window with <code>{{filters .Filters}}</code></p>{{end}}
{{if .Alert}}<h2>Alert as sent to Alertmanager</h2><pre id="alert">{{.Alert}}</pre>{{end}}
{{if .Event}}<h2>Calico event document</h2><pre id="event">{{.Event}}</pre>{{end}}
{{if .Quarantine}}<h2>Quarantine NetworkPolicy</h2><p>Apply with <code>kubectl apply -f -</code> to cut the workload off while you investigate.</p><pre id="quarantine">{{.Quarantine}}</pre>{{end}}
{{range .Errors}}<p class="bad">{{.}}</p>{{end}}
<h2>Terms</h2>
<dl class="glossary">{{range .Glossary}}<dt>{{.Term}}</dt><dd>{{.Meaning}}</dd>{{end}}</dl>
</main></body></html>
`))
