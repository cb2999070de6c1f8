package main

import (
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"path/filepath"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/feedback"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify/alertmanager"
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

// fromSilence marks an incident expected for an Alertmanager silence of
// its alert whose comment starts with --feedback.silence-word, by the
// silence's creator; the silence's id keeps it one decision however often
// the silence is read. A silence withdrawn (expired before its end) undoes
// the decision it made, once.
func (i incidents) fromSilence(logger log.Logger) func(alertmanager.ExpectedSilence) {
	return func(s alertmanager.ExpectedSilence) {
		if s.Withdrawn {
			d, undone, err := i.store.UndoKey(s.SilenceID, feedback.OriginAlertmanager, "alertmanager (silence "+s.SilenceID+" expired)")
			if err != nil {
				level.Error(logger).Log("msg", "cannot record the undo of a withdrawn silence", "silence", s.SilenceID, "err", err)
			} else if undone {
				level.Info(logger).Log("msg", "expected incident undone: its Alertmanager silence was expired", "incident", d.Incident, "silence", s.SilenceID)
			}
			return
		}
		in, err := i.tracker.Get(s.Incident)
		if err != nil {
			level.Debug(logger).Log("msg", "silence of an incident this exporter does not hold", "silence", s.SilenceID, "incident", s.Incident)
			return
		}
		before := len(i.store.ForIncident(in.ID))
		d, err := i.store.Mark(feedback.Request{Incident: in.ID, Entity: in.Entity, Detectors: in.Detectors,
			Windows: in.AnomalousWindowList(), By: s.CreatedBy, Origin: feedback.OriginAlertmanager, Comment: s.Comment, Key: s.SilenceID})
		if err != nil {
			level.Error(logger).Log("msg", "cannot record the feedback of a silence", "silence", s.SilenceID, "err", err)
			return
		}
		if len(i.store.ForIncident(in.ID)) > before {
			level.Info(logger).Log("msg", "incident marked expected by an Alertmanager silence", "incident", in.ID, "by", d.By, "silence", s.SilenceID)
		}
	}
}
