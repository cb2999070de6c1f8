package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// global is one exporter-wide setting, defined once: its name on /config,
// its flag with help and default (the setting's default), the typed field
// of Config it fills with the parser every value goes through, and where
// Calico's environment or our file may also give it. Adding a setting is
// adding an entry to globals (and the Config field it fills).
type global struct {
	name string
	// flag is the flag's name without dashes, registered by AddFlags;
	// "" for a setting no flag gives.
	flag string
	help string
	// def is the flag's default and the setting's.
	def string
	// external marks a flag another package registers (log.level), whose
	// value config reads.
	external bool
	// field is the typed field of c the setting fills, with its parser.
	field func(c *Config) value
	// fromEnv moves the setting from Calico's environment into c and
	// returns its origin; "" when the environment does not give it.
	fromEnv func(e *Env, c *Config) string
	// file is the setting's key in our file ("elasticsearch.tenant": key
	// tenant in section elasticsearch); "" for none.
	file   string
	secret bool
}

// flagOrDefault names where the setting comes from when the file leaves
// it out.
func (g global) flagOrDefault() string {
	if g.flag == "" {
		return "its default"
	}
	return "--" + g.flag + " or its default"
}

// globals are every exporter-wide setting. Each detector's settings come
// from the registry (detect.Info.Params) instead.
var globals = []global{
	{name: SettingClusters, flag: "es.cluster", file: "clusters", def: defaultClusterName,
		help: "Calico cluster name, as in index names (tigera_secure_ee_flows.<cluster>.*); repeat it to read several clusters, or give a glob (prod-*, *) resolved against the indices present at start. Each cluster is the cluster label of its series (CLUSTER_NAME).",
		field: func(c *Config) value {
			return &listValue{p: &c.Clusters, check: checkClusterPart, what: "want at least one cluster name"}
		},
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvClusterName, func() { c.Clusters = []string{e.ClusterName} })
		}},
	{name: SettingSearchInterval, flag: "search.interval", def: "5m",
		help:  "Window length and how often detection runs; a multiple of --source.bucket (AD_search_interval_minutes).",
		field: func(c *Config) value { return &durationValue{p: &c.SearchInterval, min: time.Minute, max: day} },
		fromEnv: func(e *Env, c *Config) string {
			if o := envSet(e, EnvDetectPeriod, func() { c.SearchInterval = e.DetectPeriod }); o != "" {
				return o
			}
			return envSet(e, EnvSearchInterval, func() { c.SearchInterval = e.SearchInterval })
		}},
	{name: SettingTrainInterval, flag: "train.interval", def: "0s",
		help:  "How often learned models are rebuilt from what they observed (Calico's AD_train_interval_minutes); 0 means every window.",
		field: func(c *Config) value { return &durationValue{p: &c.TrainInterval, min: 0, max: 30 * day} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvTrainInterval, func() { c.TrainInterval = e.TrainInterval })
		}},
	{name: SettingBucket, flag: "source.bucket", def: "5m",
		help:  "Calico's log bucket size; windows align to it (ES_bucket_size_minutes).",
		field: func(c *Config) value { return &durationValue{p: &c.Bucket, min: time.Minute, max: day} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvBucketSize, func() { c.Bucket = e.Bucket })
		}},
	{name: SettingMaxDocs, def: strconv.Itoa(defaultMaxDocs),
		field: func(c *Config) value { return &intValue{p: &c.MaxDocs, min: 1, max: maxCountSetting} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvMaxDocs, func() { c.MaxDocs = e.MaxDocs })
		}},
	{name: SettingAlertSeverity, flag: "alert.severity", def: strconv.Itoa(defaultAlertSeverity),
		help:  "Calico severity, 0..100, of alerts and events (AD_ALERT_SEVERITY); 70 and above is severity=critical, 40 and above warning, below info.",
		field: func(c *Config) value { return &intValue{p: &c.AlertSeverity, min: 0, max: maxSeverity} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvAlertSeverity, func() { c.AlertSeverity = e.AlertSeverity })
		}},
	{name: SettingDebug, flag: "log.level", external: true, def: "info",
		field: func(c *Config) value { return debugValue{&c.Debug} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvDebug, func() { c.Debug = e.Debug })
		}},
	{name: SettingElasticURLs, flag: "es.url", def: defaultElasticURL,
		help:  "Elasticsearch URL; repeat for several nodes (ELASTIC_HOST and ELASTIC_PORT).",
		field: func(c *Config) value { return &listValue{p: &c.Elasticsearch.URLs} },
		fromEnv: func(e *Env, c *Config) string {
			o := envSet(e, EnvElasticHost, func() { c.Elasticsearch.URLs = []string{e.ElasticURL()} })
			if _, port := e.Set[EnvElasticPort]; o != "" && port {
				o += " and " + EnvElasticPort
			}
			return o
		}},
	{name: SettingElasticUser, flag: "es.username",
		help:  "Elasticsearch user for basic auth (ELASTIC_USER).",
		field: func(c *Config) value { return &stringValue{p: &c.Elasticsearch.Username} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvElasticUser, func() { c.Elasticsearch.Username = e.ElasticUser })
		}},
	{name: SettingElasticPassword, secret: true,
		field: func(c *Config) value { return secretValue{&c.Elasticsearch.Password} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvElasticPassword, func() { c.Elasticsearch.Password = Secret(e.ElasticPassword) })
		}},
	{name: SettingPasswordFile, flag: "es.password-file",
		help:  "File holding the Elasticsearch password (else ELASTIC_PASSWORD).",
		field: func(c *Config) value { return &stringValue{p: &c.Elasticsearch.PasswordFile} }},
	{name: SettingAPIKeyFile, flag: "es.api-key-file",
		help:  "File holding an Elasticsearch API key (base64 id:key).",
		field: func(c *Config) value { return &stringValue{p: &c.Elasticsearch.APIKeyFile} }},
	{name: SettingCAFile, flag: "es.ca-file",
		help:  "PEM file of the CA that signed Elasticsearch's certificate (ES_CA_CERT).",
		field: func(c *Config) value { return &stringValue{p: &c.Elasticsearch.CAFile} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvElasticCACert, func() { c.Elasticsearch.CAFile = e.ESCACert })
		}},
	{name: SettingIndexLayout, flag: "es.index-layout", file: "elasticsearch.index_layout", def: string(calicolog.LayoutLegacy),
		help:  "Index layout: legacy (tigera_secure_ee_*) or single (calico_flowlogs with a cluster field).",
		field: func(c *Config) value { return layoutValue{&c.Elasticsearch.IndexLayout} }},
	{name: SettingTenant, flag: "es.tenant", file: "elasticsearch.tenant",
		help:  "Calico tenant id in legacy index names, if any (TENANT_ID).",
		field: func(c *Config) value { return &stringValue{p: &c.Elasticsearch.Tenant, check: checkIndexPart} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvTenantID, func() { c.Elasticsearch.Tenant = e.TenantID })
		}},
	{name: SettingQuerySize, def: strconv.Itoa(defaultQuerySize),
		field: func(c *Config) value { return &intValue{p: &c.Elasticsearch.QuerySize, min: 1, max: maxCountSetting} },
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvQuerySize, func() { c.Elasticsearch.QuerySize = e.QuerySize })
		}},
	{name: SettingScrollTime, def: defaultScrollTime.String(),
		field: func(c *Config) value {
			return &durationValue{p: &c.Elasticsearch.ScrollTime, min: time.Millisecond, max: day}
		},
		fromEnv: func(e *Env, c *Config) string {
			return envSet(e, EnvScrollTime, func() { c.Elasticsearch.ScrollTime = e.ScrollTime })
		}},
	{name: SettingMaxSeries, flag: "metrics.max-series-per-detector", file: "metrics.max_series_per_detector", def: strconv.Itoa(defaultMaxSeries),
		help:  "Most score series exported per detector; the highest scores are kept, the rest counted in calico_anomaly_series_dropped_total. 0 means no bound.",
		field: func(c *Config) value { return &intValue{p: &c.MaxSeriesPerDetector, min: 0, max: maxSeriesBound} }},
}

// Bounds of the global settings that are not Calico's.
const (
	day            = 24 * time.Hour
	maxSeriesBound = 10_000_000
)

// envSet runs apply and returns the origin of variable name when the
// environment set it; "" otherwise.
func envSet(e *Env, name string, apply func()) string {
	if _, ok := e.Set[name]; !ok {
		return ""
	}
	apply()
	return envOrigin(name)
}

// globalOfFlag is the global setting flag --name gives.
func globalOfFlag(name string) (global, bool) {
	for _, g := range globals {
		if g.flag == name {
			return g, true
		}
	}
	return global{}, false
}

// SettingOfFlag names the setting that flag --name gives, for the flags
// whose value may come from Calico's environment or the files too; false
// for the others.
func SettingOfFlag(name string) (string, bool) {
	g, ok := globalOfFlag(name)
	return g.name, ok
}

// value is a typed field of Config with the parser of its text, as
// kingpin takes it: a flag binds straight to it.
type value interface {
	Set(string) error
	String() string
}

// stringValue is a string setting, checked when not empty.
type stringValue struct {
	p     *string
	check func(string) error
}

func (v *stringValue) Set(s string) error {
	if s != "" && v.check != nil {
		if err := v.check(s); err != nil {
			return fmt.Errorf("want %v", err)
		}
	}
	*v.p = s
	return nil
}

func (v *stringValue) String() string { return *v.p }

// listValue is a list setting: a repeatable flag, or a comma list.
type listValue struct {
	p     *[]string
	check func(string) error
	// what is the error of an empty list, "" when one is allowed.
	what string
	// given is set once the flag was given: its first value replaces the
	// default, later ones add to it.
	given bool
}

func (v *listValue) Set(s string) error {
	items := splitList(s)
	if len(items) == 0 && v.what != "" {
		return errors.New(v.what)
	}
	for _, item := range items {
		if v.check != nil {
			if err := v.check(item); err != nil {
				return fmt.Errorf("want %v", err)
			}
		}
	}
	if !v.given {
		*v.p, v.given = nil, true
	}
	*v.p = append(*v.p, items...)
	return nil
}

func (v *listValue) String() string { return strings.Join(*v.p, flagListSeparator) }

// IsCumulative makes the flag repeatable.
func (v *listValue) IsCumulative() bool { return true }

// durationValue is a duration setting within [min, max].
type durationValue struct {
	p        *time.Duration
	min, max time.Duration
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < v.min || d > v.max {
		return fmt.Errorf("want a duration from %s to %s, such as 5m", v.min, v.max)
	}
	*v.p = d
	return nil
}

func (v *durationValue) String() string { return v.p.String() }

// intValue is a whole number setting within [min, max].
type intValue struct {
	p        *int
	min, max int
}

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("want a whole number from %d to %d", v.min, v.max)
	}
	*v.p = n
	return nil
}

func (v *intValue) String() string { return strconv.Itoa(*v.p) }

// layoutValue is the index layout.
type layoutValue struct{ p *calicolog.Layout }

func (v layoutValue) Set(s string) error {
	l, err := calicolog.ParseLayout(s)
	if err != nil {
		return errors.New("want legacy (tigera_secure_ee_<type>.<cluster>.*) or single (calico_flowlogs, ...)")
	}
	*v.p = l
	return nil
}

func (v layoutValue) String() string { return string(*v.p) }

// debugValue is debug logging, which --log.level=debug also asks.
type debugValue struct{ p *bool }

func (v debugValue) Set(s string) error { *v.p = s == "debug"; return nil }

func (v debugValue) String() string { return strconv.FormatBool(*v.p) }

// secretValue is a secret setting; its text is masked.
type secretValue struct{ p *Secret }

func (v secretValue) Set(s string) error { *v.p = Secret(s); return nil }

func (v secretValue) String() string { return v.p.Reveal() }

// FlagSetting returns the setting that flag --name gives, for the flags
// AddFlags adds: the value in force, which Calico's environment or the
// files may have given instead of the flag's default.
func (c *Config) FlagSetting(name string) (Setting, bool) {
	g, ok := globalOfFlag(name)
	if !ok || g.external {
		return Setting{}, false
	}
	return c.Setting(g.name)
}
