package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/backoff"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// learnHistory teaches the models that are not ready (and those ready at
// once whose model is still empty, detect.HistoryLearner) the windows of
// TrainLookback before first, oldest first, without judging them. A window
// that cannot be read is retried with backoff like any other: history is
// not skipped, because a model that learned half a day would flag the
// other half.
func (e *Engine) learnHistory(ctx context.Context, first time.Time) error {
	if e.cfg.TrainLookback <= 0 {
		return nil
	}
	var learners []detect.Learner
	for _, d := range e.detectors {
		if l, ok := d.(detect.Learner); ok && (!d.Ready() || wantsHistory(d)) {
			learners = append(learners, l)
		}
	}
	if len(learners) == 0 {
		return nil
	}
	ds := make([]detect.Detector, len(learners))
	for i, l := range learners {
		ds[i] = l
	}
	p, err := newPlan(ds, true, e.book)
	if err != nil {
		return err
	}
	n := int(e.cfg.TrainLookback / e.cfg.Interval)
	start := first.Add(-time.Duration(n) * e.cfg.Interval)
	level.Info(e.logger).Log("msg", "learning from history", "from", start, "to", first, "windows", n, "detectors", len(learners))
	began := time.Now()
	retry := backoff.New(e.cfg.BackoffMin, e.cfg.BackoffMax)
	for i := 0; i < n; {
		w := source.Window{Start: start.Add(time.Duration(i) * e.cfg.Interval)}
		w.End = w.Start.Add(e.cfg.Interval)
		rows, err := e.readLearners(ctx, w, p)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			wait := retry.Next()
			level.Warn(e.logger).Log("msg", "history window could not be read; retrying", "window", w, "retry_in", wait, "err", err)
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		retry.Reset()
		e.board.SetSource(e.src.Kind(), true, e.retries())
		for j, l := range learners {
			l.Learn(w, rows[j])
			e.board.Trained(l.Name(), l.Ready())
			e.boundEntities(l)
		}
		i++
	}
	ready := 0
	for _, l := range learners {
		if l.Ready() {
			ready++
		}
	}
	level.Info(e.logger).Log("msg", "learned from history", "windows", n, "ready", ready, "of", len(learners), "took", time.Since(began))
	return nil
}

// readLearners reads window w for the learners p was planned for, with
// the engine's concurrency.
func (e *Engine) readLearners(ctx context.Context, w source.Window, p *plan) ([][][]source.Row, error) {
	results, _, err := p.read(ctx, e.src, w, e.cfg.Concurrency, nil)
	var rows [][][]source.Row
	if err == nil {
		rows, err = p.split(results, w.End)
	}
	if err != nil {
		if qe, ok := errors.AsType[*queryError](err); ok {
			err = p.queryFailed(qe, "history")
		}
		return nil, e.sourceFailed(err)
	}
	return rows, nil
}

// Replay processes the windows of [from, to) in order as fast as the source
// answers, after learning TrainLookback of history before from, and
// returns at the first window that cannot be read: a backtest reports a
// failure instead of waiting for the source to come back.
func (e *Engine) Replay(ctx context.Context, from, to time.Time) error {
	from = source.Align(from, e.cfg.Bucket)
	if err := e.learnHistory(ctx, from); err != nil {
		return err
	}
	for start := from; start.Add(e.cfg.Interval).Compare(to) <= 0; start = start.Add(e.cfg.Interval) {
		if err := ctx.Err(); err != nil {
			return err
		}
		w := source.Window{Start: start, End: start.Add(e.cfg.Interval)}
		if err := e.ProcessWindow(ctx, w); err != nil {
			return fmt.Errorf("window %s: %w", w, err)
		}
		e.setNext(w.End)
	}
	return nil
}

// wantsHistory reports whether d is ready at once but has learned nothing.
func wantsHistory(d detect.Detector) bool {
	h, ok := d.(detect.HistoryLearner)
	return ok && h.WantsHistory()
}
