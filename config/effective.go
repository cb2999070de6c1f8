package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/redact"
)

// Setting is one effective value and where it came from.
type Setting struct {
	Name string
	// Value is the value as text; a secret's is masked.
	Value string
	// Origin is "default", "env NAME", "file path:line",
	// "globalalert path:line (name)" or "flag --name".
	Origin string
	Secret bool
	// derived marks a detector's period or severity that follows the
	// global search interval or alert severity.
	derived bool
}

// Secret is a value never shown: printing it gives <secret>.
type Secret string

// String masks the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return maskedValue
}

// GoString masks the secret in %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Reveal returns the secret itself, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// Elasticsearch is how the exporter reaches Elasticsearch and where it
// finds Calico's indices.
type Elasticsearch struct {
	URLs         []string
	Username     string
	Password     Secret // ELASTIC_PASSWORD; a password file wins when both are given
	PasswordFile string
	APIKeyFile   string
	CAFile       string
	IndexLayout  calicolog.Layout
	Tenant       string
	QuerySize    int
	ScrollTime   time.Duration
}

// Detector is one detector's effective configuration.
type Detector struct {
	Name     string
	Enabled  bool
	Severity int           // 1..100 on its events
	Period   time.Duration // how often it runs
	// OwnPeriod is true when Period was set for this detector (a
	// GlobalAlert, our file) rather than following the search interval.
	OwnPeriod bool
	// ScoreThreshold is the score at or above which its verdicts alert;
	// 0 means the detector's own Threshold().
	ScoreThreshold float64
	Description    string
	Summary        string
	// Params holds every setting by detect.Param.Key, defaults included;
	// Config.Params gives only those that were set, for building.
	Params map[string]string
}

// Config is the exporter's effective configuration: every value, and the
// origin of each. Build it with Resolve; it is not changed afterwards (a
// reload builds a new one).
type Config struct {
	// Clusters are the Calico clusters read; Cluster is the first.
	Clusters       []string
	Cluster        string
	SearchInterval time.Duration
	TrainInterval  time.Duration
	Bucket         time.Duration
	MaxDocs        int
	AlertSeverity  int
	Debug          bool
	Elasticsearch  Elasticsearch
	// MaxSeriesPerDetector bounds exported score series; 0 for no bound.
	MaxSeriesPerDetector int
	// Detectors holds every registered detector, enabled or not.
	Detectors map[string]*Detector
	Silences  []Silence
	// Ignored are GlobalAlerts not run (rule-based ones, detectors this
	// build lacks), to be logged.
	Ignored []IgnoredAlert

	settings map[string]*Setting
	order    []string
	warnings []string
}

// Warnings are what the configuration accepted but a user should know:
// names in a disable list that match no detector, periods taken to the
// nearest whole number of buckets, Calico settings that have no effect
// here. They are logged at start and listed on /config.
func (c *Config) Warnings() []string { return append([]string(nil), c.warnings...) }

// Sources are what Resolve merges, lowest precedence first; any may be
// nil.
type Sources struct {
	// Env is Calico's environment (ReadEnv); nil means none set.
	Env *Env
	// File is our configuration file (LoadFile).
	File *File
	// Alerts are Calico GlobalAlerts (LoadGlobalAlerts). When they hold
	// at least one AnomalyDetection alert, they decide which detectors
	// run, as Calico's UI did: a detector without one is off, unless the
	// configuration file or a flag turned it on.
	Alerts *GlobalAlerts
	// Flags are the command-line flags that were explicitly set, by name
	// without dashes ("search.interval": "5m", "detector.port-scan":
	// "false"); repeated flags joined with commas. Flags this package
	// does not know are listed with their value as given.
	Flags map[string]string
}

// Resolve merges defaults < environment < configuration file <
// GlobalAlerts < flags into the effective configuration, and checks that
// the result holds together. Intervals and periods that are not whole
// buckets are taken to the nearest whole number, with a warning.
func Resolve(s Sources) (*Config, error) {
	env := s.Env
	if env == nil {
		var err error
		if env, err = ReadEnv(func(string) string { return "" }); err != nil {
			return nil, err
		}
	}
	b := &builder{c: &Config{Detectors: map[string]*Detector{}, settings: map[string]*Setting{}}}
	b.defaults()
	b.env(env)
	if s.File != nil {
		b.file(s.File)
	}
	if s.Alerts != nil {
		b.alerts(s.Alerts)
	}
	b.flags(s.Flags)
	b.check()
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	b.c.warnings = append(append([]string(nil), env.Warnings...), b.warnings...)
	return b.c, nil
}

type builder struct {
	c        *Config
	errs     []error
	warnings []string
	// periodFollows marks detectors whose period was not set on its own,
	// so it follows the search interval.
	periodFollows map[string]bool
	// severityFollows marks detectors whose severity follows the global
	// AD_ALERT_SEVERITY.
	severityFollows map[string]bool
}

func (b *builder) set(name, value, origin string) {
	b.setSecret(name, value, origin, false)
}

func (b *builder) setSecret(name, value, origin string, secret bool) {
	st, ok := b.c.settings[name]
	if !ok {
		st = &Setting{Name: name}
		b.c.settings[name] = st
		b.c.order = append(b.c.order, name)
	}
	st.Value, st.Origin, st.Secret = redact.Text(value), origin, secret
	if secret && value != "" {
		redact.Secret(value)
		st.Value = maskedValue
	}
}

func (b *builder) origin(name string) string {
	if st, ok := b.c.settings[name]; ok {
		return st.Origin
	}
	return ""
}

func (b *builder) defaults() {
	c := b.c
	for _, g := range globals {
		if err := g.field(c).Set(g.def); err != nil {
			panic(fmt.Sprintf("setting %s: default %q: %v", g.name, g.def, err)) // a wrong entry in globals
		}
		b.global(g, originDefault)
	}
	b.set(SettingSilences, "none", originDefault)

	b.periodFollows, b.severityFollows = map[string]bool{}, map[string]bool{}
	for _, info := range detect.Registered() {
		d := &Detector{Name: info.Name, Enabled: info.DefaultEnabled, Severity: c.AlertSeverity, Period: c.SearchInterval, Params: map[string]string{}}
		c.Detectors[info.Name] = d
		b.periodFollows[info.Name], b.severityFollows[info.Name] = true, true
		b.set(DetectorSetting(info.Name, keyEnabled), strconv.FormatBool(d.Enabled), originDefault)
		b.set(DetectorSetting(info.Name, keySeverity), strconv.Itoa(d.Severity), originDefault)
		b.set(DetectorSetting(info.Name, keyPeriod), d.Period.String(), originDefault)
		for _, p := range info.Params {
			d.Params[p.Key] = p.Default
			b.set(DetectorSetting(info.Name, p.Key), p.Default, originDefault)
		}
	}
}

// envOrigin is the origin of a value read from variable name.
func envOrigin(name string) string { return "env " + name }

// global records setting g's value in c as coming from origin.
func (b *builder) global(g global, origin string) {
	b.setSecret(g.name, g.field(b.c).String(), origin, g.secret)
}

func (b *builder) env(e *Env) {
	c := b.c
	for _, g := range globals {
		if g.fromEnv == nil {
			continue
		}
		if origin := g.fromEnv(e, c); origin != "" {
			b.global(g, origin)
		}
	}
	if e.CalicoJobs && e.EnabledDetectors == nil {
		// As with Calico's jobs, every detector runs unless listed in
		// AD_DISABLED_JOBS, whatever our own defaults would have been.
		for name, d := range c.Detectors {
			if !d.Enabled {
				b.enable(name, true, calicoJobsOrigin)
			}
		}
	}
	if e.EnabledDetectors != nil {
		on := map[string]bool{}
		for _, name := range e.EnabledDetectors {
			on[name] = true
		}
		for name := range c.Detectors {
			b.enable(name, on[name], envOrigin(e.EnabledFrom))
		}
	}
	for _, name := range e.DisabledDetectors {
		b.enable(name, false, envOrigin(EnvDisabledJobs))
	}
	for _, info := range detect.Registered() {
		for _, p := range info.Params {
			if v, ok := e.Params[info.Name][p.Key]; ok {
				from := p.Env
				if alias, ok := e.ParamFrom[info.Name][p.Key]; ok {
					from = alias
				}
				c.Detectors[info.Name].Params[p.Key] = v
				b.set(DetectorSetting(info.Name, p.Key), v, envOrigin(from))
			}
		}
	}
}

func (b *builder) enable(name string, on bool, origin string) {
	d, ok := b.c.Detectors[name]
	if !ok {
		return
	}
	d.Enabled = on
	b.set(DetectorSetting(name, keyEnabled), strconv.FormatBool(on), origin)
}

func fileOrigin(p Position) string { return "file " + Position{File: p.File, Line: p.Line}.String() }

func (b *builder) file(f *File) {
	c := b.c
	at := func(name string) string { return fileOrigin(f.Pos[name]) }
	for _, g := range globals {
		if text, ok := f.Globals[g.name]; ok {
			if err := g.field(c).Set(text); err != nil {
				b.errs = append(b.errs, fmt.Errorf("%s: %s: %w", at(g.name), g.file, err)) // ParseFile checked it
				continue
			}
			b.global(g, at(g.name))
		}
	}
	names := make([]string, 0, len(f.Detectors))
	for name := range f.Detectors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fd, d := f.Detectors[name], c.Detectors[name]
		if d == nil {
			continue
		}
		if fd.Enabled != nil {
			b.enable(name, *fd.Enabled, at(DetectorSetting(name, keyEnabled)))
		}
		if fd.Severity != 0 {
			d.Severity, b.severityFollows[name] = fd.Severity, false
			b.set(DetectorSetting(name, keySeverity), strconv.Itoa(fd.Severity), at(DetectorSetting(name, keySeverity)))
		}
		if fd.Period != 0 {
			d.Period, b.periodFollows[name] = fd.Period, false
			b.set(DetectorSetting(name, keyPeriod), fd.Period.String(), at(DetectorSetting(name, keyPeriod)))
		}
		if fd.ScoreThreshold != 0 {
			d.ScoreThreshold = fd.ScoreThreshold
			b.set(DetectorSetting(name, keyScoreThreshold), strconv.FormatFloat(fd.ScoreThreshold, 'g', -1, 64), at(DetectorSetting(name, keyScoreThreshold)))
		}
		keys := make([]string, 0, len(fd.Settings))
		for k := range fd.Settings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			d.Params[k] = fd.Settings[k]
			b.set(DetectorSetting(name, k), fd.Settings[k], at(DetectorSetting(name, k)))
		}
	}
	if len(f.Silences) > 0 {
		c.Silences = append([]Silence(nil), f.Silences...)
		var parts []string
		for _, s := range f.Silences {
			parts = append(parts, s.String())
		}
		b.set(SettingSilences, strings.Join(parts, "; "), fileOrigin(f.Silences[0].Pos))
	}
}

// String describes the silence in one line.
func (s Silence) String() string {
	orAll := func(g string) string {
		if g == "" {
			return "*"
		}
		return g
	}
	out := fmt.Sprintf("detector=%s namespace=%s workload=%s", orAll(s.Detector), orAll(s.Namespace), orAll(s.Workload))
	if !s.Until.IsZero() {
		out += " until " + s.Until.UTC().Format(time.RFC3339)
	}
	return out
}

func alertOrigin(a GlobalAlert) string {
	return fmt.Sprintf("globalalert %s (%s)", Position{File: a.Pos.File, Line: a.Pos.Line}, a.Name)
}

func (b *builder) alerts(g *GlobalAlerts) {
	c := b.c
	b.c.Ignored = append(b.c.Ignored, g.Ignored...)
	if len(g.Alerts) == 0 {
		return
	}
	listed := map[string]bool{}
	for _, a := range g.Alerts {
		d := c.Detectors[a.Detector]
		if d == nil {
			continue
		}
		listed[a.Detector] = true
		origin := alertOrigin(a)
		b.enable(a.Detector, true, origin)
		if a.Severity != 0 {
			d.Severity, b.severityFollows[a.Detector] = a.Severity, false
			b.set(DetectorSetting(a.Detector, keySeverity), strconv.Itoa(a.Severity), origin)
		}
		d.Period, b.periodFollows[a.Detector] = a.Period, false
		if a.Period == 0 {
			d.Period = defaultAlertPeriod
			b.set(DetectorSetting(a.Detector, keyPeriod), d.Period.String(), origin+", no period: Calico's default 15m")
		} else {
			b.set(DetectorSetting(a.Detector, keyPeriod), a.Period.String(), origin)
		}
		if a.Description != "" {
			d.Description = a.Description
			b.set(DetectorSetting(a.Detector, keyDescription), a.Description, origin)
		}
		if a.Summary != "" {
			d.Summary = a.Summary
			b.set(DetectorSetting(a.Detector, keySummary), a.Summary, origin)
		}
	}
	// As in Calico's UI, a detector without an alert is off; our own file
	// can still turn it on, and flags come after.
	for name, d := range c.Detectors {
		if listed[name] || !d.Enabled || strings.HasPrefix(b.origin(DetectorSetting(name, keyEnabled)), "file ") {
			continue
		}
		b.enable(name, false, globalAlertsAbsentOrigin)
	}
}

func flagOrigin(name string) string { return "flag --" + name }

func (b *builder) flags(flags map[string]string) {
	names := make([]string, 0, len(flags))
	for name := range flags {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := b.flag(name, flags[name]); err != nil {
			b.errs = append(b.errs, fmt.Errorf("flag --%s=%q: %w", name, flags[name], err))
		}
	}
}

func (b *builder) flag(name, v string) error {
	c := b.c
	origin := flagOrigin(name)
	if rest, ok := strings.CutPrefix(name, noDetectorFlagPrefix); ok {
		return b.detectorFlag(rest, "false", origin)
	}
	if rest, ok := strings.CutPrefix(name, detectorFlagPrefix); ok {
		return b.detectorFlag(rest, v, origin)
	}
	g, known := globalOfFlag(name)
	if !known {
		// Flags for other parts (web, logging, notifications) are shown
		// as given; those that name secrets directly are masked.
		b.setSecret(name, v, origin, secretFlag(name))
		return nil
	}
	// A fresh value of the field: the flag's values replace what came
	// before, a list's too.
	if err := g.field(c).Set(v); err != nil {
		return err
	}
	b.global(g, origin)
	return nil
}

func (b *builder) detectorFlag(flagName, v, origin string) error {
	name := normalDetector(flagName)
	if _, ok := b.c.Detectors[name]; !ok {
		return fmt.Errorf("unknown detector %q (known: %s)", flagName, strings.Join(registeredNames(), flagListSeparator))
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	b.enable(name, on, origin)
	return nil
}

func secretFlag(name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, "-file") || strings.HasSuffix(n, ".file") {
		return false
	}
	for _, s := range []string{"password", "api-key", "apikey", "secret", "token"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, flagListSeparator) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// check fills what follows other settings and refuses combinations that
// cannot run, naming each value's origin.
func (b *builder) check() {
	c := b.c
	c.Cluster = c.Clusters[0]
	for name, d := range c.Detectors {
		if b.periodFollows[name] {
			d.Period = c.SearchInterval
			b.set(DetectorSetting(name, keyPeriod), d.Period.String(), b.origin(SettingSearchInterval))
			c.settings[DetectorSetting(name, keyPeriod)].derived = true
		}
		if b.severityFollows[name] {
			d.Severity = c.AlertSeverity
			b.set(DetectorSetting(name, keySeverity), strconv.Itoa(d.Severity), b.origin(SettingAlertSeverity))
			c.settings[DetectorSetting(name, keySeverity)].derived = true
		}
	}
	c.SearchInterval = b.wholeBuckets(SettingSearchInterval, c.SearchInterval)
	for name, d := range c.Detectors {
		if b.periodFollows[name] {
			d.Period = c.SearchInterval
			b.c.settings[DetectorSetting(name, keyPeriod)].Value = d.Period.String()
		}
	}
	for _, name := range sortedDetectors(c.Detectors) {
		if d := c.Detectors[name]; !b.periodFollows[name] {
			d.Period = b.wholeBuckets(DetectorSetting(name, keyPeriod), d.Period)
			d.OwnPeriod = true
		}
	}
	naming := calicolog.IndexNaming{Layout: c.Elasticsearch.IndexLayout, Tenant: c.Elasticsearch.Tenant}
	for _, cl := range c.Clusters {
		naming.Cluster = cl
		if strings.Contains(cl, "*") {
			naming.Cluster = "pattern" // a glob is checked by checkClusterPart; its layout and tenant here
		}
		if err := naming.Validate(); err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s (%s): %w", SettingClusters, b.origin(SettingClusters), err))
		}
	}
	if c.Elasticsearch.Tenant != "" && c.Elasticsearch.IndexLayout == calicolog.LayoutSingle && b.origin(SettingTenant) == envOrigin(EnvTenantID) {
		// Calico's controller sets TENANT_ID whatever the layout: accepted,
		// and unused where index names carry no tenant.
		b.warnings = append(b.warnings, fmt.Sprintf("%s=%q has no effect in the single index layout (%s), whose index names carry no tenant", EnvTenantID, c.Elasticsearch.Tenant, b.origin(SettingIndexLayout)))
		c.Elasticsearch.Tenant = ""
		b.set(SettingTenant, "", b.origin(SettingTenant)+" (unused in the single index layout)")
	}
	if c.Elasticsearch.Tenant != "" && c.Elasticsearch.IndexLayout == calicolog.LayoutSingle {
		b.errs = append(b.errs, fmt.Errorf("%s %q (%s) has no place in the single index layout (%s), whose indices carry no tenant", SettingTenant, c.Elasticsearch.Tenant, b.origin(SettingTenant), b.origin(SettingIndexLayout)))
	}
}

// Calico's default period of an AnomalyDetection GlobalAlert (its
// documentation and the operator's templates).
const defaultAlertPeriod = 15 * time.Minute

// calicoJobsOrigin is the origin of a detector switched on because
// Calico's jobs ran every detector not in AD_DISABLED_JOBS.
const calicoJobsOrigin = "env AD_* (as Calico's jobs: every detector not in AD_DISABLED_JOBS runs)"

// wholeBuckets returns d as the nearest whole number of buckets, at least
// one. Calico accepted any period of at least a minute, while windows here
// are whole buckets: a value that is not is taken to the nearest, shown
// on the setting and in a warning, never refused.
func (b *builder) wholeBuckets(name string, d time.Duration) time.Duration {
	bucket := b.c.Bucket
	if d%bucket == 0 {
		return d
	}
	n := max(1, (d+bucket/2)/bucket)
	got := n * bucket
	st := b.c.settings[name]
	b.warnings = append(b.warnings, fmt.Sprintf("%s %v (%s) is not a whole number of %v buckets: %v is used", name, d, st.Origin, bucket, got))
	st.Value = fmt.Sprintf("%v (given %v, taken to whole %v buckets)", got, d, bucket)
	return got
}

func sortedDetectors(m map[string]*Detector) []string {
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// EnabledDetectors lists the enabled detectors' names, sorted.
func (c *Config) EnabledDetectors() []string {
	var out []string
	for _, name := range sortedDetectors(c.Detectors) {
		if c.Detectors[name].Enabled {
			out = append(out, name)
		}
	}
	return out
}

// Params returns the detector settings that were set (by the environment,
// the file or a GlobalAlert), by detector name and detect.Param.Key:
// engine.BuildOptions.Params. Settings left at their default are absent,
// so each detector applies its own defaults and can tell a value that was
// given from one that was not (process_restarts reads Calico's older
// AD_ProcessRestarts_threshold only when min_restarts was not given).
func (c *Config) Params() map[string]map[string]string {
	out := make(map[string]map[string]string, len(c.Detectors))
	for name, d := range c.Detectors {
		p := map[string]string{}
		for k, v := range d.Params {
			if st := c.settings[DetectorSetting(name, k)]; st != nil && st.Origin != originDefault {
				p[k] = v
			}
		}
		out[name] = p
	}
	return out
}

// Settings lists every setting: global ones first, then each detector's,
// by name; secrets masked.
func (c *Config) Settings() []Setting {
	names := append([]string(nil), c.order...)
	sort.SliceStable(names, func(i, j int) bool {
		di, dj := strings.HasPrefix(names[i], detectorSettingPrefix), strings.HasPrefix(names[j], detectorSettingPrefix)
		if di != dj {
			return !di
		}
		if di {
			return names[i] < names[j]
		}
		return false // globals keep their order of definition
	})
	out := make([]Setting, len(names))
	for i, n := range names {
		out[i] = *c.settings[n]
	}
	return out
}

// Setting returns the named setting.
func (c *Config) Setting(name string) (Setting, bool) {
	st, ok := c.settings[name]
	if !ok {
		return Setting{}, false
	}
	return *st, true
}

// Text renders the settings as aligned text, one per line: name, value,
// origin; for the /config page.
func (c *Config) Text() string {
	settings := c.Settings()
	wName, wValue := 0, 0
	for _, s := range settings {
		wName = max(wName, len(s.Name))
		wValue = max(wValue, min(len(displayValue(s.Value)), textValueWidth))
	}
	var sb strings.Builder
	for _, s := range settings {
		fmt.Fprintf(&sb, "%-*s  %-*s  %s\n", wName, s.Name, wValue, displayValue(s.Value), s.Origin)
	}
	if len(c.warnings) > 0 {
		sb.WriteString("\nwarnings:\n")
		for _, w := range c.warnings {
			fmt.Fprintf(&sb, "  %s\n", w)
		}
	}
	return sb.String()
}

// textValueWidth is the widest value column Text pads to; longer values
// push their origin right.
const textValueWidth = 32

func displayValue(v string) string {
	if v == "" {
		return `""`
	}
	if strings.ContainsAny(v, " \t\n\"") {
		return strconv.Quote(v)
	}
	return v
}

// LogKeyvals returns the settings that were set (not defaults, nor a
// detector's period or severity that only follows the global one) as
// go-kit log key-value pairs: the setting's name, then "value (origin)".
func (c *Config) LogKeyvals() []interface{} {
	var out []interface{}
	for _, s := range c.Settings() {
		if s.Origin == originDefault || s.derived {
			continue
		}
		out = append(out, s.Name, s.Value+" ("+s.Origin+")")
	}
	return out
}
