package main

import (
	"path/filepath"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/feedback"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
)

// incidentFlags are the flags of incidents and of the feedback users give
// on them.
type incidentFlags struct {
	expiry       time.Duration
	silenceWord  string
	silencePoll  time.Duration
	keepResolved time.Duration
}

func addIncidentFlags(app *kingpin.Application) *incidentFlags {
	f := &incidentFlags{}
	app.Flag("feedback.expiry", "How long an incident marked expected mutes its detectors on its workload (detectors that learn a baseline learn its windows for good).").Default("168h").DurationVar(&f.expiry)
	app.Flag("feedback.silence-word", "An Alertmanager silence of an incident's alert whose comment starts with this word marks the incident expected, by the silence's creator (empty: silences are not read).").Default("expected").StringVar(&f.silenceWord)
	app.Flag("feedback.silence-poll-interval", "How often the Alertmanagers' silences are read for --feedback.silence-word.").Default("1m").DurationVar(&f.silencePoll)
	app.Flag("incidents.keep-resolved", "How long resolved incidents stay listed on the status page.").Default("24h").DurationVar(&f.keepResolved)
	return f
}

// incidents are the incident tracker and the feedback store of serve.
type incidents struct {
	tracker *incident.Tracker
	store   *feedback.Store
}

// build makes the tracker and the store, kept in the model folder (dir)
// when one is given, so both survive a restart.
func (f *incidentFlags) build(dir string, policy *notify.LivePolicy, now func() time.Time) (incidents, error) {
	var incPath, fbPath string
	if dir != "" {
		incPath, fbPath = filepath.Join(dir, "incidents.json"), filepath.Join(dir, "feedback.json")
	}
	store, err := feedback.New(fbPath, f.expiry, now)
	if err != nil {
		return incidents{}, err
	}
	tracker, err := incident.New(incident.Config{Path: incPath, Policy: policy.Get, Keep: f.keepResolved})
	if err != nil {
		return incidents{}, err
	}
	return incidents{tracker: tracker, store: store}, nil
}
