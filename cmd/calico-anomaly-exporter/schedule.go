package main

import (
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
)

type scheduleFlags struct {
	interval time.Duration
	bucket   time.Duration
	lag      time.Duration
	catchUp  time.Duration
	storage  string
}

func addScheduleFlags(app *kingpin.Application) *scheduleFlags {
	f := &scheduleFlags{}
	app.Flag("search.interval", "Window length and how often detection runs; a multiple of --source.bucket.").Default("5m").DurationVar(&f.interval)
	app.Flag("source.bucket", "Calico's log bucket size; windows align to it.").Default("5m").DurationVar(&f.bucket)
	app.Flag("source.lag", "How long after a window closes its logs are complete in the source.").Default("2m").DurationVar(&f.lag)
	app.Flag("source.catch-up", "On start, also process the windows of this past span, in order.").Default("0s").DurationVar(&f.catchUp)
	app.Flag("storage.path", "Folder where the last completed window is kept, so a restart resumes after it (none: start afresh).").Default("").StringVar(&f.storage)
	return f
}

// config returns the engine's schedule; start, when set by the source,
// overrides the catch-up span.
func (f *scheduleFlags) config(start time.Time) (engine.Config, error) {
	cfg := engine.Config{Interval: f.interval, Bucket: f.bucket, Lag: f.lag, Start: start, StateDir: f.storage}
	if start.IsZero() && f.catchUp > 0 {
		cfg.Start = time.Now().Add(-f.lag - f.catchUp).Truncate(f.bucket)
	}
	return cfg, nil
}
