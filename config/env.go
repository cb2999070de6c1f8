package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// Var is one of the global environment variables of Calico's anomaly
// detection Deployment (ad-jobs-deployment), kept under its own name.
type Var struct {
	Name    string
	Default string // Calico's default; "" when it had none
	Help    string
	Secret  bool // never shown, only whether it is set
}

// Calico's global variables.
const (
	EnvClusterName      = "CLUSTER_NAME"
	EnvSearchInterval   = "AD_search_interval_minutes"
	EnvTrainInterval    = "AD_train_interval_minutes"
	EnvMaxDocs          = "AD_max_docs"
	EnvBucketSize       = "ES_bucket_size_minutes"
	EnvQuerySize        = "ES_query_size"
	EnvScrollTime       = "ES_scroll_time"
	EnvDisabledJobs     = "AD_DISABLED_JOBS"
	EnvEnabledDetectors = "AD_ENABLED_DETECTORS"
	EnvEnabledJobs      = "AD_ENABLED_JOBS" // older name of AD_ENABLED_DETECTORS
	EnvAlertSeverity    = "AD_ALERT_SEVERITY"
	EnvDebug            = "AD_debug"
	EnvElasticHost      = "ELASTIC_HOST"
	EnvElasticPort      = "ELASTIC_PORT"
	EnvElasticUser      = "ELASTIC_USER"
	EnvElasticPassword  = "ELASTIC_PASSWORD"
	EnvElasticCACert    = "ES_CA_CERT"
	// EnvTenantID is set on the pod by Calico's intrusion detection
	// controller: the tenant part of the index names.
	EnvTenantID = "TENANT_ID"
	// EnvDetectPeriod is set by Calico's controller on the detection pod
	// of a GlobalAlert: its period, as a Go duration (15m0s).
	EnvDetectPeriod       = "AD_detect_default_query_time_duration"
	defaultClusterName    = "cluster"
	defaultSearchMinutes  = 30
	defaultTrainMinutes   = 1440
	defaultMaxDocs        = 500000
	defaultBucketMinutes  = 5
	defaultQuerySize      = 10000
	defaultScrollTime     = 20 * time.Second
	defaultAlertSeverity  = 100
	defaultElasticPort    = 9200
	minSeverity           = 1
	maxSeverity           = 100
	maxMinutes            = 366 * 24 * 60
	maxPort               = 65535
	maxCountSetting       = math.MaxInt32
	elasticDefaultScheme  = "https"
	elasticHTTPScheme     = "http"
	detectorListSeparator = ","
)

// Vars lists Calico's global variables in the order of its documentation.
var Vars = []Var{
	{EnvClusterName, defaultClusterName, "the cluster part of the index names", false},
	{EnvSearchInterval, strconv.Itoa(defaultSearchMinutes), "how often detection runs, in minutes", false},
	{EnvTrainInterval, strconv.Itoa(defaultTrainMinutes), "how often models are retrained, in minutes", false},
	{EnvMaxDocs, strconv.Itoa(defaultMaxDocs), "most training rows per run", false},
	{EnvBucketSize, strconv.Itoa(defaultBucketMinutes), "time buckets aligned to the wall clock, in minutes", false},
	{EnvQuerySize, strconv.Itoa(defaultQuerySize), "documents per page of raw reads", false},
	{EnvScrollTime, "20s", "how long Elasticsearch keeps a scroll of raw reads", false},
	{EnvDisabledJobs, "", "comma list of detectors to turn off", false},
	{EnvEnabledDetectors, "", "comma list of detectors to run (all others off)", false},
	{EnvEnabledJobs, "", "older name of AD_ENABLED_DETECTORS", false},
	{EnvAlertSeverity, strconv.Itoa(defaultAlertSeverity), "severity 1..100 written on events", false},
	{EnvDebug, "", "debug logging (True, true, 1, yes, on)", false},
	{EnvElasticHost, "", "Elasticsearch host name (or URL)", false},
	{EnvElasticPort, strconv.Itoa(defaultElasticPort), "Elasticsearch port", false},
	{EnvElasticUser, "", "Elasticsearch user for basic auth", false},
	{EnvElasticPassword, "", "Elasticsearch password", true},
	{EnvElasticCACert, "", "PEM file of the CA that signed Elasticsearch's certificate", false},
	{EnvTenantID, "", "tenant part of the index names (set by Calico's controller)", false},
	{EnvDetectPeriod, "", "how often detection runs, as a duration (set by Calico's controller from the GlobalAlert's period)", false},
}

// calicoDetectors are every detector id Calico shipped. A name among them
// that this build does not register may still be disabled (Calico's
// manifests shipped AD_DISABLED_JOBS=bytes_in,bytes_out,process_bytes), but
// not enabled.
var calicoDetectors = map[string]bool{
	"bytes_in": true, "bytes_out": true, "dga": true, "dns_latency": true, "dns_tunnel": true,
	"generic_dns": true, "generic_flows": true, "generic_l7": true, "http_connection_spike": true,
	"http_response_codes": true, "http_verbs": true, "ip_sweep": true, "l7_bytes": true,
	"l7_latency": true, "multivariable_flow": true, "port_scan": true, "process_bytes": true,
	"process_restarts": true, "time_series_dns": true, "time_series_flows": true, "time_series_l7": true,
}

// Env is what Calico's environment variables set, with Calico's defaults
// for those that were not set.
type Env struct {
	ClusterName    string
	SearchInterval time.Duration // AD_search_interval_minutes
	TrainInterval  time.Duration // AD_train_interval_minutes
	MaxDocs        int
	Bucket         time.Duration // ES_bucket_size_minutes
	QuerySize      int
	ScrollTime     time.Duration
	// DisabledDetectors are AD_DISABLED_JOBS' registered detectors.
	DisabledDetectors []string
	// EnabledDetectors are AD_ENABLED_DETECTORS' (or AD_ENABLED_JOBS')
	// detectors; nil when neither is set.
	EnabledDetectors []string
	// EnabledFrom is the variable EnabledDetectors came from.
	EnabledFrom     string
	AlertSeverity   int
	Debug           bool
	ElasticHost     string
	ElasticPort     int
	ElasticUser     string
	ElasticPassword string
	ESCACert        string        // path of a PEM file
	TenantID        string        // TENANT_ID
	DetectPeriod    time.Duration // AD_detect_default_query_time_duration; 0 when not set
	// CalicoJobs is true when a variable only Calico's anomaly detection
	// jobs read (AD_*, ES_*, ELASTIC_HOST) is set: the environment is
	// theirs, and, as with Calico, every job not in AD_DISABLED_JOBS runs.
	CalicoJobs bool
	// Params are the detectors' settings read from their Calico variables
	// (detect.Param.Env), by detector name and Param.Key: only those set.
	Params map[string]map[string]string
	// ParamFrom names the variable each of Params came from, when it is
	// not the Param's own Env (AD_BytesInModel_SeasonalAD_c for bytes_in's c).
	ParamFrom map[string]map[string]string
	// Warnings are values accepted that a user should know about: names
	// in AD_DISABLED_JOBS that match no detector, Calico settings that
	// have no effect here.
	Warnings []string
	// Set holds every variable read that was set (not empty), with its
	// value as given.
	Set map[string]string
}

// ElasticURL is the Elasticsearch URL ELASTIC_HOST and ELASTIC_PORT name,
// or "" when ELASTIC_HOST is not set. A host without a scheme is reached
// over https, as Calico's Elasticsearch always was.
func (e *Env) ElasticURL() string {
	if e.ElasticHost == "" {
		return ""
	}
	host := e.ElasticHost
	if !strings.Contains(host, "://") {
		host = elasticDefaultScheme + "://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return host
	}
	if u.Port() == "" {
		u.Host = u.Host + ":" + strconv.Itoa(e.ElasticPort)
	}
	return u.String()
}

// ReadEnv reads Calico's variables through getenv (usually os.Getenv). An
// empty value counts as not set. Every invalid value is reported, each
// error naming the variable, its value and what was expected.
func ReadEnv(getenv func(string) string) (*Env, error) {
	e := &Env{
		ClusterName:    defaultClusterName,
		SearchInterval: defaultSearchMinutes * time.Minute,
		TrainInterval:  defaultTrainMinutes * time.Minute,
		MaxDocs:        defaultMaxDocs,
		Bucket:         defaultBucketMinutes * time.Minute,
		QuerySize:      defaultQuerySize,
		ScrollTime:     defaultScrollTime,
		AlertSeverity:  defaultAlertSeverity,
		ElasticPort:    defaultElasticPort,
		Params:         map[string]map[string]string{},
		ParamFrom:      map[string]map[string]string{},
		Set:            map[string]string{},
	}
	var errs []error
	get := func(name string) (string, bool) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return "", false
		}
		e.Set[name] = v
		return v, true
	}
	bad := func(name, value, want string) {
		errs = append(errs, fmt.Errorf("%s=%q: want %s", name, value, want))
	}
	minutes := func(name string, dst *time.Duration) {
		if v, ok := get(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxMinutes {
				bad(name, v, fmt.Sprintf("a whole number of minutes, 1 to %d", maxMinutes))
				return
			}
			*dst = time.Duration(n) * time.Minute
		}
	}
	count := func(name string, dst *int, min, max int, what string) {
		if v, ok := get(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < min || n > max {
				bad(name, v, fmt.Sprintf("%s, %d to %d", what, min, max))
				return
			}
			*dst = n
		}
	}
	str := func(name string, dst *string) {
		if v, ok := get(name); ok {
			*dst = v
		}
	}

	if v, ok := get(EnvClusterName); ok {
		if err := checkIndexPart(v); err != nil {
			bad(EnvClusterName, v, err.Error())
		} else {
			e.ClusterName = v
		}
	}
	minutes(EnvSearchInterval, &e.SearchInterval)
	minutes(EnvTrainInterval, &e.TrainInterval)
	count(EnvMaxDocs, &e.MaxDocs, 1, maxCountSetting, "a whole number of documents")
	minutes(EnvBucketSize, &e.Bucket)
	count(EnvQuerySize, &e.QuerySize, 1, maxCountSetting, "a whole number of documents per page")
	if v, ok := get(EnvScrollTime); ok {
		d, err := parseESDuration(v)
		if err != nil || d <= 0 {
			bad(EnvScrollTime, v, "a positive Elasticsearch time such as 20s, 1m or 1h")
		} else {
			e.ScrollTime = d
		}
	}
	if v, ok := get(EnvDisabledJobs); ok {
		names, unmatched := disableList(v)
		if len(unmatched) > 0 {
			// Calico's jobs did not stop on a name that matches nothing
			// (published manifests carry "process_restart"); neither does
			// the exporter: switching off nothing changes nothing.
			e.Warnings = append(e.Warnings, fmt.Sprintf("%s=%q: %s matches no detector and is ignored (known: %s)",
				EnvDisabledJobs, v, strings.Join(quoteAll(unmatched), ", "), strings.Join(registeredNames(), detectorListSeparator)))
		}
		e.DisabledDetectors = names
	}
	newer, newerSet := get(EnvEnabledDetectors)
	older, olderSet := get(EnvEnabledJobs)
	switch {
	case newerSet && olderSet && normalList(newer) != normalList(older):
		errs = append(errs, fmt.Errorf("%s=%q and %s=%q disagree: set only %s", EnvEnabledDetectors, newer, EnvEnabledJobs, older, EnvEnabledDetectors))
	case newerSet || olderSet:
		name, v := EnvEnabledDetectors, newer
		if !newerSet {
			name, v = EnvEnabledJobs, older
		}
		names, lerrs := detectorList(v)
		for _, err := range lerrs {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
		if names == nil {
			names = []string{}
		}
		e.EnabledDetectors, e.EnabledFrom = names, name
	}
	count(EnvAlertSeverity, &e.AlertSeverity, minSeverity, maxSeverity, "a whole number severity")
	if v, ok := get(EnvDebug); ok {
		b, err := parseBool(v)
		if err != nil {
			bad(EnvDebug, v, "True, true, 1, yes, on, False, false, 0, no or off")
		}
		e.Debug = b
	}
	str(EnvElasticHost, &e.ElasticHost)
	if e.ElasticHost != "" {
		if _, err := url.Parse(hostURL(e.ElasticHost)); err != nil || strings.ContainsAny(e.ElasticHost, " \t") {
			bad(EnvElasticHost, e.ElasticHost, "a host name, or a URL such as https://es.example:9200")
		}
	}
	count(EnvElasticPort, &e.ElasticPort, 1, maxPort, "a port number")
	str(EnvElasticUser, &e.ElasticUser)
	str(EnvElasticPassword, &e.ElasticPassword)
	str(EnvElasticCACert, &e.ESCACert)
	if v, ok := get(EnvTenantID); ok {
		if err := checkIndexPart(v); err != nil {
			bad(EnvTenantID, v, err.Error())
		} else {
			e.TenantID = v
		}
	}
	if v, ok := get(EnvDetectPeriod); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > maxMinutes*time.Minute {
			bad(EnvDetectPeriod, v, "a duration of at least 1m, such as 15m0s")
		} else {
			e.DetectPeriod = d
		}
	}

	errs = append(errs, readDetectorEnv(get, e.Params)...)
	errs = append(errs, readCalicoOnlyEnv(get, e)...)
	for name := range e.Set {
		if strings.HasPrefix(name, "AD_") || strings.HasPrefix(name, "ES_") || name == EnvElasticHost {
			e.CalicoJobs = true
		}
	}
	return e, errors.Join(errs...)
}

// readDetectorEnv reads every registered detector's Calico variables into
// params, validating each value by building the detector with it.
func readDetectorEnv(get func(string) (string, bool), params map[string]map[string]string) []error {
	var errs []error
	for _, info := range detect.Registered() {
		for _, p := range info.Params {
			if p.Env == "" {
				continue
			}
			v, ok := get(p.Env)
			if !ok {
				continue
			}
			if err := checkParam(info, p, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", p.Env, v, err))
				continue
			}
			if params[info.Name] == nil {
				params[info.Name] = map[string]string{}
			}
			params[info.Name][p.Key] = v
		}
	}
	return errs
}

// UnknownEnv returns the variables of environ ("NAME=value" strings, as
// os.Environ gives) that look like Calico's anomaly detection settings
// (AD_ or ES_ prefixed) but that nothing reads: most likely misspelt.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{}
	for _, v := range Vars {
		known[v.Name] = true
	}
	for _, info := range detect.Registered() {
		for _, p := range info.Params {
			if p.Env != "" {
				known[p.Env] = true
			}
		}
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(name, "AD_") || strings.HasPrefix(name, "ES_")) && !known[name] && !isCalicoOnlyVar(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// paramKind is what a detector setting's value must parse as, read from
// its default.
type paramKind int

const (
	kindString paramKind = iota
	kindNumber
	kindBool
)

func kindOf(p detect.Param) paramKind {
	if _, err := strconv.ParseFloat(p.Default, 64); err == nil {
		return kindNumber
	}
	if _, err := strconv.ParseBool(p.Default); err == nil {
		return kindBool
	}
	return kindString
}

// checkParam validates a detector setting: first its type (a setting whose
// default is a number must be a number), then by building the detector
// with it, so the detector's own checks (ranges, field names) apply.
func checkParam(info detect.Info, p detect.Param, v string) (err error) {
	switch kindOf(p) {
	case kindNumber:
		f, perr := strconv.ParseFloat(v, 64)
		if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("want a number (default %s)", p.Default)
		}
		if isSensitivity(p) && (f < minSensitivity || f > maxSensitivity) {
			return fmt.Errorf("want a number from 0 to 100, the range Calico documents for every _SENSITIVITY (default %s)", p.Default)
		}
	case kindBool:
		if _, perr := strconv.ParseBool(v); perr != nil {
			return fmt.Errorf("want true or false (default %s)", p.Default)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("detector %s refused it: %v", info.Name, r)
		}
	}()
	if _, nerr := info.New(detect.Options{
		Cluster: defaultClusterName, Params: map[string]string{p.Key: v},
		Bucket: defaultBucketMinutes * time.Minute,
	}); nerr != nil {
		return nerr
	}
	return nil
}

// Calico's documented range of every _SENSITIVITY setting.
const (
	minSensitivity = 0
	maxSensitivity = 100
)

// isSensitivity reports whether p is one of Calico's _SENSITIVITY
// settings, which all take 0 to 100, higher meaning more alerts.
func isSensitivity(p detect.Param) bool {
	return strings.HasSuffix(p.Env, "_SENSITIVITY") || p.Key == "sensitivity"
}

// detectorNames splits a list of detectors as Calico's variables write it
// (commas, spaces or semicolons; port-scan or port_scan), each name once:
// the ones this build has, Calico detectors it lacks, and names that match
// no detector, as written.
func detectorNames(v string) (registered, missing, unknown []string) {
	seen := map[string]bool{}
	for _, raw := range strings.FieldsFunc(v, isListSeparator) {
		name := normalDetector(raw)
		if seen[name] {
			continue
		}
		seen[name] = true
		switch {
		case isRegistered(name):
			registered = append(registered, name)
		case isCalicoDetector(name):
			missing = append(missing, raw)
		default:
			unknown = append(unknown, raw)
		}
	}
	return registered, missing, unknown
}

func isListSeparator(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == ';' }

// disableList parses a comma list of detectors to switch off. A name that
// matches no detector (a typo, a detector of another version) switches
// off nothing: it is returned in unmatched, for a warning, not refused. A
// Calico detector this build lacks is dropped silently: it does not run
// either way.
func disableList(v string) (names, unmatched []string) {
	names, _, unmatched = detectorNames(v)
	return names, unmatched
}

// detectorList parses a comma list of detectors to switch on, accepting the
// dash spelling (port-scan). A name that matches no detector this build
// has is an error: the user asked for something that cannot run.
func detectorList(v string) ([]string, []error) {
	out, missing, unknown := detectorNames(v)
	var errs []error
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("unknown detector %s (known: %s)", strings.Join(quoteAll(unknown), ", "), strings.Join(registeredNames(), detectorListSeparator)))
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("detector %s is not available in this build (available: %s)", strings.Join(quoteAll(missing), ", "), strings.Join(registeredNames(), detectorListSeparator)))
	}
	return out, errs
}

func normalList(v string) string {
	names := strings.FieldsFunc(v, isListSeparator)
	for i := range names {
		names[i] = normalDetector(names[i])
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// normalDetector turns a detector name as users write it (port-scan,
// Port_Scan) into its id (port_scan).
func normalDetector(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
}

func isRegistered(name string) bool {
	_, ok := detect.Lookup(name)
	return ok
}

func isCalicoDetector(name string) bool {
	return calicoDetectors[name]
}

func registeredNames() []string {
	var out []string
	for _, info := range detect.Registered() {
		out = append(out, info.Name)
	}
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// parseBool reads a truth value the way Calico's Python configuration did,
// and the usual spellings besides.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "y", "on", "t":
		return true, nil
	case "false", "0", "no", "n", "off", "f":
		return false, nil
	}
	return false, fmt.Errorf("not a truth value: %q", v)
}

// parseESDuration reads an Elasticsearch time unit value (20s, 1m, 2h, 1d,
// 500ms) or a Go duration.
func parseESDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 366 {
			return 0, fmt.Errorf("bad duration %q", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

func hostURL(h string) string {
	if strings.Contains(h, "://") {
		return h
	}
	return elasticHTTPScheme + "://" + h
}

// checkClusterPart checks a cluster name, or a glob of cluster names
// (prod-*) resolved against the indices present.
func checkClusterPart(s string) error {
	if strings.Contains(s, "*") {
		if err := calicolog.ValidateClusterPattern(s); err != nil {
			return fmt.Errorf("a cluster name or glob: %v", err)
		}
		return nil
	}
	return checkIndexPart(s)
}

// checkIndexPart checks that s can be the cluster or tenant part of
// Calico's index names.
func checkIndexPart(s string) error {
	if s == "" || strings.ContainsAny(s, " ,*?\"<>|\\/#:") || s != strings.ToLower(s) {
		return errors.New(`a name that can be part of an index name (lowercase, no spaces or ,*?"<>|\/#:)`)
	}
	return nil
}
