package main

import (
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
)

// scheduleFlags are the flags of when windows are read and models
// learn; settings holds the search interval, bucket and train interval,
// which Calico's environment may give too.
type scheduleFlags struct {
	settings *config.Config
	lag      time.Duration
	catchUp  time.Duration
	storage  string
	lookback time.Duration
	seed     int64
	entities int
}

func addScheduleFlags(app *kingpin.Application) *scheduleFlags {
	f := &scheduleFlags{}
	app.Flag("source.lag", "How long after a window closes its logs are complete in the source.").Default("2m").DurationVar(&f.lag)
	app.Flag("source.catch-up", "On start, also process the windows of this past span, in order.").Default("0s").DurationVar(&f.catchUp)
	app.Flag("model.dir", "Folder where the detectors' models and the last completed window are saved after every window, so a restart loads the models and resumes after that window (none: learn afresh at every start).").Default("").StringVar(&f.storage)
	app.Flag("storage.path", "Older name of --model.dir.").Hidden().StringVar(&f.storage)
	app.Flag("train.lookback", "At start, models that are not ready (none saved in --model.dir) learn this much history from the source before the first window is judged, so a new install raises no flood of alerts.").Default("0s").DurationVar(&f.lookback)
	app.Flag("model.seed", "Seed of the randomised models (isolation forests): the same seed and the same logs give the same scores.").Default("1").Int64Var(&f.seed)
	app.Flag("model.max-entities-per-detector", "Most entities each detector's model keeps state for; after every window the least recently seen beyond it are forgotten (calico_anomaly_model_entities_evicted_total), so memory is bounded whatever names arrive. 0 means no bound.").
		Default(strconv.Itoa(engine.DefaultMaxEntitiesPerDetector)).IntVar(&f.entities)
	return f
}

// config returns the engine's schedule; start, when set by the source,
// overrides the catch-up span.
func (f *scheduleFlags) config(start time.Time) (engine.Config, error) {
	cfg := engine.Config{Interval: f.settings.SearchInterval, Bucket: f.settings.Bucket, Lag: f.lag, Start: start, StateDir: f.storage, TrainLookback: f.lookback,
		MaxEntitiesPerDetector: f.entities}
	if start.IsZero() && f.catchUp > 0 {
		cfg.Start = time.Now().Add(-f.lag - f.catchUp).Truncate(f.settings.Bucket)
	}
	return cfg, nil
}
