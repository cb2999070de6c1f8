package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify/alertmanager"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify/events"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/web"
)

// notifyFlags are the flags of the alerts pushed to Alertmanager and the
// events written to the Calico events index.
type notifyFlags struct {
	amURLs        []string
	amTimeout     time.Duration
	amResend      time.Duration
	amQueue       int
	amCAFile      string
	amCertFile    string
	amKeyFile     string
	amServerName  string
	amInsecure    bool
	amUser        string
	amPassFile    string
	amTokenFile   string
	eventsEnabled bool
	eventsQueue   int
	minScore      float64
	silenced      []string
	dryRun        bool
	externalURL   string
}

func addNotifyFlags(app *kingpin.Application) *notifyFlags {
	f := &notifyFlags{}
	app.Flag("alertmanager.url", "Alertmanager to push alerts to (API v2), e.g. http://alertmanager:9093; repeat for each member of an HA cluster.").StringsVar(&f.amURLs)
	app.Flag("alertmanager.timeout", "Timeout of one POST to an Alertmanager.").Default("10s").DurationVar(&f.amTimeout)
	app.Flag("alertmanager.resend-interval", "How often firing alerts are sent again; their endsAt is 4 times this ahead.").Default("1m").DurationVar(&f.amResend)
	app.Flag("alertmanager.queue-capacity", "Most alerts waiting per Alertmanager while it is down; beyond it the oldest are dropped.").Default("10000").IntVar(&f.amQueue)
	app.Flag("alertmanager.ca-file", "PEM file of the CA that signed the Alertmanagers' certificates.").StringVar(&f.amCAFile)
	app.Flag("alertmanager.cert-file", "Client certificate (PEM) for Alertmanagers that ask for one.").StringVar(&f.amCertFile)
	app.Flag("alertmanager.key-file", "Key (PEM) of --alertmanager.cert-file.").StringVar(&f.amKeyFile)
	app.Flag("alertmanager.server-name", "Name to check the Alertmanagers' certificates against, when not their host name.").StringVar(&f.amServerName)
	app.Flag("alertmanager.insecure-skip-verify", "Do not check the Alertmanagers' certificates.").BoolVar(&f.amInsecure)
	app.Flag("alertmanager.username", "User for basic auth to the Alertmanagers.").StringVar(&f.amUser)
	app.Flag("alertmanager.password-file", "File holding the basic auth password.").StringVar(&f.amPassFile)
	app.Flag("alertmanager.bearer-token-file", "File holding a bearer token for the Alertmanagers.").StringVar(&f.amTokenFile)
	app.Flag("events.enabled", "Write one event per anomaly to the Calico events index (with --source=elasticsearch).").Default("true").BoolVar(&f.eventsEnabled)
	app.Flag("events.queue-capacity", "Most events waiting while the events index is unreachable; beyond it the oldest are dropped.").Default("10000").IntVar(&f.eventsQueue)
	app.Flag("alert.min-score", "Lowest score, 0..1, that raises an alert or event, on top of each detector's threshold.").Default("0").Float64Var(&f.minScore)
	app.Flag("alert.silence", "Detector whose anomalies raise no alert and no event (scores are still exported); repeatable.").StringsVar(&f.silenced)
	app.Flag("alert.dry-run", "Log the alerts and events that would be sent, and send none.").BoolVar(&f.dryRun)
	app.Flag("web.external-url", "The exporter's URL as users reach it (e.g. http://calico-anomaly-exporter.example:9925), for links from alerts to its status page.").StringVar(&f.externalURL)
	return f
}

// notifiers are the built alert and event sinks.
type notifiers struct {
	sinks      []engine.Sink
	collectors []prometheus.Collector
	runs       []func(context.Context) error
	// extras show on the status page's anomaly view what was sent.
	extras web.Extras
	// am is the Alertmanager notifier, nil without one.
	am *alertmanager.Notifier
}

// run starts every notifier; they stop when ctx ends.
func (n notifiers) run(ctx context.Context) {
	for _, r := range n.runs {
		go func() { _ = r(ctx) }()
	}
}

func (f *notifyFlags) policy() (notify.Policy, error) {
	p := notify.Policy{MinScore: f.minScore, Silenced: map[string]bool{}}
	for _, s := range f.silenced {
		for _, name := range strings.Split(s, ",") {
			name = strings.ReplaceAll(strings.TrimSpace(name), "-", "_")
			if _, ok := detect.Lookup(name); !ok {
				return p, fmt.Errorf("--alert.silence: no detector named %q", name)
			}
			p.Silenced[name] = true
		}
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("--alert.min-score: %w", err)
	}
	return p, nil
}

// build makes the notifiers the flags ask for: an Alertmanager notifier
// when --alertmanager.url is given, an events notifier when the source is
// Elasticsearch; with --alert.dry-run both log instead of sending.
func (f *notifyFlags) build(src source.Source, grafanaURL string, live *notify.LivePolicy, inc incidents, logger log.Logger) (notifiers, error) {
	out := notifiers{extras: web.Extras{Quarantine: func(v detect.Verdict) (string, error) { return notify.QuarantinePolicy(v.Entity), nil }}}
	p := live.Get()
	if err := p.Validate(); err != nil {
		return out, err
	}
	if len(f.amURLs) > 0 || f.dryRun {
		am, err := alertmanager.New(alertmanager.Config{
			URLs: f.amURLs, CAFile: f.amCAFile, CertFile: f.amCertFile, KeyFile: f.amKeyFile,
			ServerName: f.amServerName, InsecureSkipVerify: f.amInsecure,
			Username: f.amUser, PasswordFile: f.amPassFile, BearerTokenFile: f.amTokenFile,
			Timeout: f.amTimeout, ResendInterval: f.amResend, QueueCapacity: f.amQueue,
			Policy: p, Live: live, GrafanaURL: grafanaURL, GeneratorURL: f.externalURL, DryRun: f.dryRun,
			Incidents: inc.tracker,
		}, log.With(logger, "component", "alertmanager"))
		if err != nil {
			return out, err
		}
		out.sinks = append(out.sinks, am)
		out.collectors = append(out.collectors, am)
		out.extras.Alert = am.AlertFor
		out.am = am
		out.runs = append(out.runs, am.Run)
	}
	es, isES := src.(*source.Elasticsearch)
	switch {
	case !f.eventsEnabled:
	case !isES:
		level.Info(logger).Log("msg", "events are not written to the Calico events index: the source is not Elasticsearch")
	default:
		ev, err := events.New(events.Config{Naming: es.Naming(), Policy: p, Live: live, QueueCapacity: f.eventsQueue, DryRun: f.dryRun, Incidents: inc.tracker},
			es, log.With(logger, "component", "events"))
		if err != nil {
			return out, err
		}
		out.sinks = append(out.sinks, ev)
		out.collectors = append(out.collectors, ev)
		out.extras.Event = ev.DocumentFor
		out.runs = append(out.runs, ev.Run)
	}
	return out, nil
}
