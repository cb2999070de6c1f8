package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSeasonalHourDeviation: a steady key whose hour runs a fifth hotter
// (or 15% colder, once the week is known) than usual: the hour's mean
// leaves the threshold within the hour (a fall, at its last window), at
// a window that does not alone; 15% colder before the week is known is
// no fall (a first quiet weekend looks so); an ordinary day with a daily
// peak and ±10% noise moves no hour's mean that far; an hour that ran as
// hot yesterday is seen.
func TestSeasonalHourDeviation(t *testing.T) {
	w := workload{base: 1e5, peak: 4e5, backup: 2e6}
	newModel := func(days int) (*Seasonal, time.Time, *rand.Rand) {
		rng := rand.New(rand.NewPCG(3, 4))
		s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
		return s, feed(s, "k", w, monday, days, rng), rng
	}
	// An ordinary day: no hour's mean beyond the threshold, whether two
	// days are known or a week.
	for _, days := range []int{2, 3, 7} {
		s, day, rng := newModel(days)
		worst := 0.0
		for at := day; at.Before(day.Add(24 * time.Hour)); at = at.Add(bucket) {
			v := w.value(at, rng)
			if z, _, n, ok := s.HourDeviation("k", at, v); ok {
				if n < MinHourValues {
					t.Fatalf("%d days: a mean of %d values judged", days, n)
				}
				if z >= s.Threshold() || z <= -s.Threshold() {
					t.Errorf("%d days: ordinary hour at %s: mean %.1f spreads, threshold %.1f", days, at.Format("15:04"), z, s.Threshold())
				}
				worst = max(worst, z, -z)
			}
			s.Observe("k", at, v)
		}
		t.Logf("%d days: largest hour deviation of an ordinary day %.2f", days, worst)
	}

	for _, tc := range []struct {
		name   string
		factor float64
		days   int
		found  bool
	}{
		{"a fifth hotter", 1.2, 3, true},
		{"15% colder, three days known", 0.85, 3, false},
		{"15% colder, a week known", 0.85, 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, day, rng := newModel(tc.days)
			hour := day.Add(14 * time.Hour) // a steady afternoon hour
			for at := day; at.Before(hour); at = at.Add(bucket) {
				s.Observe("k", at, w.value(at, rng))
			}
			found := -1
			for i := range 12 {
				at := hour.Add(time.Duration(i) * bucket)
				v := w.value(at, rng) * tc.factor
				zw, _, _ := s.Deviation("k", at, v)
				z, mean, n, ok := s.HourDeviation("k", at, v)
				if ok && !tc.found && z != 0 {
					t.Fatalf("a fall judged before the week is known: %.1f spreads at window %d", z, i)
				}
				if ok && found < 0 && (z >= s.Threshold() || z <= -s.Threshold()) {
					found = i
					if zw >= s.Threshold() || zw <= -s.Threshold() {
						t.Errorf("the window itself lies %.1f spreads off: not the case this test is about", zw)
					}
					if tc.factor > 1 != (z > 0) {
						t.Errorf("side: z %.1f for a factor %.1f", z, tc.factor)
					}
					if mean < 0.7*tc.factor*w.base || mean > 1.3*tc.factor*w.base || n != i+1 {
						t.Errorf("mean %.0f of %d values, want about %.0f of %d", mean, n, tc.factor*w.base, i+1)
					}
				}
				if found >= 0 {
					s.Note("k", at, v) // judged anomalous, as a detector does
				} else {
					s.Observe("k", at, v)
				}
			}
			if !tc.found {
				if found >= 0 {
					t.Fatalf("found at window %d", found)
				}
				return
			}
			if found < 0 {
				t.Fatal("the hour's mean never left the threshold")
			}
			t.Logf("found at window %d of the hour", found)
			if tc.factor < 1 && found != 11 {
				t.Errorf("a fall found at window %d: a fall is judged on the whole hour, at its last window", found)
			}
			// The next day: an hour that ran hot yesterday is seen.
			next := hour.Add(24 * time.Hour)
			for at := hour.Add(time.Hour); at.Before(next); at = at.Add(bucket) {
				s.Observe("k", at, w.value(at, rng))
			}
			side := 1.0
			if tc.factor < 1 {
				side = -1
			}
			at := next.Add(2 * bucket)
			if !s.HourSeen("k", at, side*s.Threshold()/2, MinHourValues) {
				t.Errorf("half the threshold on the same side, a day after the hour ran %.1f times the usual: not seen", tc.factor)
			}
			if s.HourSeen("k", at, -side*s.Threshold()/2, MinHourValues) {
				t.Error("the other side is seen")
			}
			if s.HourSeen("k", at, side*10*s.Threshold(), MinHourValues) {
				t.Error("ten times the threshold is seen")
			}
			if s.HourSeen("k", next.Add(48*time.Hour), side*s.Threshold()/2, MinHourValues) {
				t.Error("seen three days later")
			}
		})
	}
}

// TestSeasonalHourDeviationCountsNotedBursts: the spread of an hour's mean
// comes from every value, noted ones too. Two keys see the same steady
// load for three days; one of them also bursts to four times its level
// for a quarter of an hour, every few hours, and each burst is noted (judged
// anomalous, so kept out of the cells) as a detector notes it. An hour
// running a third hotter is then a departure for the steady key and not
// for the bursty one, whose hours' means wander that far every day.
func TestSeasonalHourDeviationCountsNotedBursts(t *testing.T) {
	w := workload{base: 1e5}
	peakZ := map[string]float64{}
	for _, name := range []string{"steady", "bursty"} {
		rng := rand.New(rand.NewPCG(5, 6))
		s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
		at := monday
		for end := monday.Add(3 * 24 * time.Hour); at.Before(end); at = at.Add(bucket) {
			v := w.value(at, rng)
			if name == "bursty" && (at.Hour()*7+at.YearDay())%5 == 0 && at.Minute() < 15 {
				s.Note("k", at, 4*v)
				continue
			}
			s.Observe("k", at, v)
		}
		hour := at.Add(14 * time.Hour)
		for ; at.Before(hour); at = at.Add(bucket) {
			s.Observe("k", at, w.value(at, rng))
		}
		for i := range 12 {
			at := hour.Add(time.Duration(i) * bucket)
			v := 1.33 * w.value(at, rng)
			if z, _, _, ok := s.HourDeviation("k", at, v); ok {
				peakZ[name] = max(peakZ[name], z)
			}
			s.Observe("k", at, v)
		}
	}
	t.Logf("an hour a third hotter: %.1f spreads of an hour's mean on the steady key, %.1f on the bursty one", peakZ["steady"], peakZ["bursty"])
	threshold := NewSeasonal(SeasonalConfig{}).Threshold()
	if peakZ["steady"] < threshold {
		t.Errorf("steady key: an hour a third hotter reached %.1f spreads, want at least %.1f", peakZ["steady"], threshold)
	}
	if peakZ["bursty"] >= threshold {
		t.Errorf("bursty key: an hour a third hotter reached %.1f spreads, at or past %.1f: its noted bursts did not count", peakZ["bursty"], threshold)
	}
}

// TestSeasonalDrift: a steady key whose afternoon runs a few percent
// hotter for hours, each hour below the threshold of an hour's mean:
// the drift of the hours together crosses DriftThreshold within them;
// ordinary days (daily peak, nightly backup, ±10% noise) keep it far below.
// Once reset at the crossing, the rise going on is seen and does not
// cross unseen again; three days later it is new.
func TestSeasonalDrift(t *testing.T) {
	w := workload{base: 1e5, peak: 4e5, backup: 2e6}
	rng := rand.New(rand.NewPCG(9, 10))
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	at := feed(s, "k", w, monday, 3, rng)
	threshold := DriftThreshold(s.Threshold(), bucket)
	if threshold < 4 || threshold > 8 {
		t.Fatalf("drift threshold %.2f at %.2f spreads a window: outside the 4 to 8 a CUSUM of k=1 needs for the same false-alarm rate", threshold, s.Threshold())
	}
	// Three ordinary days judged: the drift stays below the threshold.
	worst := 0.0
	for end := at.Add(3 * 24 * time.Hour); at.Before(end); at = at.Add(bucket) {
		v := w.value(at, rng)
		if d, ok := s.Drift("k", at, v); ok {
			worst = max(worst, d)
		}
		s.Observe("k", at, v)
	}
	t.Logf("ordinary days: highest drift %.2f, threshold %.2f", worst, threshold)
	if worst >= threshold {
		t.Fatalf("ordinary days drifted %.2f, at or past %.2f", worst, threshold)
	}
	// From 13:00, six hours 6% hotter.
	for hour := at.Add(13 * time.Hour); at.Before(hour); at = at.Add(bucket) {
		s.Observe("k", at, w.value(at, rng))
	}
	crossed, hourZ := time.Time{}, 0.0
	for end := at.Add(6 * time.Hour); at.Before(end); at = at.Add(bucket) {
		v := 1.06 * w.value(at, rng)
		if z, _, _, ok := s.HourDeviation("k", at, v); ok && at.Minute() >= 30 {
			hourZ = max(hourZ, z)
		}
		if d, ok := s.Drift("k", at, v); ok && d >= threshold {
			seen := s.DriftSeen("k", at)
			if crossed.IsZero() && seen {
				t.Fatalf("the first crossing, at %s, is seen", at.Format("15:04"))
			}
			if !crossed.IsZero() && !seen {
				t.Errorf("crossed again at %s, unseen, after %s", at.Format("15:04"), crossed.Format("15:04"))
			}
			if crossed.IsZero() {
				crossed = at
			}
			s.ResetDrift("k", at)
		}
		s.Observe("k", at, v)
	}
	t.Logf("six hours 6%% hotter: hours' means up to %.1f spreads, drift crossed at %s", hourZ, crossed.Format("15:04"))
	if hourZ >= s.Threshold() {
		t.Errorf("an hour's mean alone reached %.1f spreads: not the case this test is about", hourZ)
	}
	if crossed.IsZero() {
		t.Fatal("six hours 6% hotter never crossed the drift threshold")
	}
	if !s.DriftSeen("k", at.Add(24*time.Hour)) {
		t.Error("the crossing is not seen a day later")
	}
	if s.DriftSeen("k", at.Add(72*time.Hour)) {
		t.Error("the crossing is still seen three days later")
	}
}

// TestSeasonalFallingDrift: the lower drift. A key with quiet weekends:
// its first weekend, before the week is known, moves no fall (an hour's
// mean or the drift) at all; a whole ordinary week judged once weekends
// are known keeps the drift within the threshold on both sides; then an
// afternoon 15% below its usual level, each hour's mean within its own
// threshold, drifts past it below, and Drift says so with its sign.
func TestSeasonalFallingDrift(t *testing.T) {
	w := workload{base: 1e5, peak: 4e5, backup: 2e6, weekends: true}
	rng := rand.New(rand.NewPCG(11, 12))
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	threshold := DriftThreshold(s.Threshold(), bucket)
	// Monday to Friday learned; the first weekend is judged.
	at := feed(s, "k", w, monday, 5, rng)
	if at.Weekday() != time.Saturday {
		t.Fatalf("judging starts on %s", at.Weekday())
	}
	lowest := 0.0
	for end := at.Add(2 * 24 * time.Hour); at.Before(end); at = at.Add(bucket) {
		v := w.value(at, rng)
		if z, _, _, ok := s.HourDeviation("k", at, v); ok && z < 0 {
			t.Fatalf("first weekend, %s: an hour's mean %.1f spreads below, before the week is known", at.Format("Mon 15:04"), z)
		}
		if d, ok := s.Drift("k", at, v); ok {
			lowest = min(lowest, d)
		}
		s.Observe("k", at, v)
	}
	if lowest < 0 {
		t.Fatalf("first weekend: the drift fell to %.2f before the week is known", lowest)
	}
	// Another week learned, then a whole week judged: weekends included,
	// the drift stays within the threshold on both sides.
	at = feed(s, "k", w, at, 7, rng)
	worst := 0.0
	for end := at.Add(7 * 24 * time.Hour); at.Before(end); at = at.Add(bucket) {
		v := w.value(at, rng)
		if d, ok := s.Drift("k", at, v); ok {
			if math.Abs(d) >= threshold {
				t.Fatalf("ordinary week, %s: drift %.2f, threshold %.2f", at.Format("Mon 15:04"), d, threshold)
			}
			worst = max(worst, math.Abs(d))
		}
		s.Observe("k", at, v)
	}
	t.Logf("ordinary week, weekends known: largest drift %.2f, threshold %.2f", worst, threshold)
	// Wednesday from 13:00 (Monday's hours' means are a day from the
	// weekend's: they wander the most), six hours 15% below the usual
	// level.
	at = feed(s, "k", w, at, 2, rng)
	for hour := at.Add(13 * time.Hour); at.Before(hour); at = at.Add(bucket) {
		s.Observe("k", at, w.value(at, rng))
	}
	crossed, hourZ := time.Time{}, 0.0
	for end := at.Add(6 * time.Hour); at.Before(end); at = at.Add(bucket) {
		v := 0.85 * w.value(at, rng)
		if z, _, _, ok := s.HourDeviation("k", at, v); ok && at.Minute() >= 30 {
			hourZ = min(hourZ, z)
		}
		if d, ok := s.Drift("k", at, v); ok && d >= threshold {
			t.Fatalf("%s: the drift rose to %.2f on a fall", at.Format("15:04"), d)
		} else if ok && d <= -threshold && crossed.IsZero() {
			crossed = at
			s.ResetDrift("k", at)
		}
		s.Observe("k", at, v)
	}
	t.Logf("six hours 15%% below: hours' means down to %.1f spreads, drift crossed at %s", hourZ, crossed.Format("15:04"))
	if hourZ <= -s.Threshold() {
		t.Errorf("an hour's mean alone reached %.1f spreads: not the case this test is about", hourZ)
	}
	if crossed.IsZero() {
		t.Fatal("six hours 15% below never crossed the drift threshold")
	}
	if !s.DriftSeen("k", at) {
		t.Error("the crossing is not seen")
	}
}

// TestSeasonalFallToNewLevel: a key whose level steps down by 15% and
// stays there. The lower drift crosses once, as the step is new; on the
// days after, while the median of seven days still holds the old level,
// the hours are as low as the same hours yesterday, so neither an hour's
// mean nor the drift calls them a fall again.
func TestSeasonalFallToNewLevel(t *testing.T) {
	w := workload{base: 1e5, peak: 4e5, backup: 2e6}
	rng := rand.New(rand.NewPCG(13, 14))
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	threshold := DriftThreshold(s.Threshold(), bucket)
	at := feed(s, "k", w, monday, 8, rng)
	step := at.Add(13 * time.Hour)
	for ; at.Before(step); at = at.Add(bucket) {
		s.Observe("k", at, w.value(at, rng))
	}
	var crossings []time.Time
	lowestHour := 0.0
	for end := step.Add(72 * time.Hour); at.Before(end); at = at.Add(bucket) {
		v := 0.85 * w.value(at, rng)
		if z, _, _, ok := s.HourDeviation("k", at, v); ok && at.Sub(step) >= 24*time.Hour {
			lowestHour = min(lowestHour, z)
		}
		if d, ok := s.Drift("k", at, v); ok && d <= -threshold {
			if !s.DriftSeen("k", at) {
				crossings = append(crossings, at)
			}
			s.ResetDrift("k", at)
		}
		s.Observe("k", at, v)
	}
	t.Logf("step down 15%%: unseen crossings %v; lowest hour's mean from a day after the step %.1f spreads", crossings, lowestHour)
	if len(crossings) == 0 {
		t.Fatal("the step down never crossed the drift threshold")
	}
	if crossings[0].Sub(step) > 12*time.Hour {
		t.Errorf("first crossing %s after the step", crossings[0].Sub(step))
	}
	if len(crossings) > 1 {
		t.Errorf("the new level crossed again at %v, unseen", crossings[1:])
	}
	if lowestHour <= -s.Threshold() {
		t.Errorf("a day after the step, an hour's mean lay %.1f spreads below: the level was as low yesterday", lowestHour)
	}
}

// TestSeasonalHourCountsKnownBursts: a steady key that bursts to thirty
// times its level for one window at a few hours a day, each burst noted as
// known behaviour (NoteKnown) and judged in its hour in progress as a
// usual value, as a detector does with a deviation it has seen before.
// An ordinary day of such bursts moves no hour's mean, and no drift, past
// its threshold: an hour holding one known burst is that burst again. A
// night of bursts in every other window, each no higher than before,
// drifts past the threshold within four hours: the hours' means the
// drift adds up count the known bursts. Noted as anomalous instead
// (Note), the same bursts stay out of the hours' means and the night
// shows nothing.
func TestSeasonalHourCountsKnownBursts(t *testing.T) {
	w := workload{base: 1e5}
	burstHours := func(day int) []int { return []int{(2 + 5*day) % 24, (9 + 7*day) % 24, (17 + 3*day) % 24} }
	for _, known := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(13, 14))
		s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
		threshold := DriftThreshold(s.Threshold(), bucket)
		note := s.Note
		if known {
			note = s.NoteKnown
		}
		// departs reports whether the hour of at, or the hours up to it,
		// depart, and learns v (a burst is noted).
		departs := func(at time.Time, v float64, burst bool) (hour, drift bool) {
			judged := v
			if burst {
				// As the detectors do, a known window joins its hour in
				// progress as a usual one.
				_, judged, _ = s.Deviation("k", at, v)
			}
			z, _, _, ok := s.HourDeviation("k", at, judged)
			d, dok := s.Drift("k", at, judged)
			if burst {
				note("k", at, v)
			} else {
				s.Observe("k", at, v)
			}
			return ok && z >= s.Threshold(), dok && d >= threshold
		}
		at := monday
		for day := range 5 {
			bursts := burstHours(day)
			for end := at.Add(24 * time.Hour); at.Before(end); at = at.Add(bucket) {
				burst := at.Minute() == 0 && slices.Contains(bursts, at.Hour())
				v := w.value(at, rng)
				if burst {
					v *= 30
				}
				hour, drift := departs(at, v, burst)
				if day == 4 && (hour || drift) {
					t.Fatalf("known=%v: an ordinary day of bursts departs at %s (hour %v, drift %v)", known, at.Format("15:04"), hour, drift)
				}
			}
		}
		found := time.Time{}
		night := at.Add(time.Hour)
		for ; at.Before(night); at = at.Add(bucket) {
			departs(at, w.value(at, rng), false)
		}
		for end := night.Add(4 * time.Hour); at.Before(end) && found.IsZero(); at = at.Add(bucket) {
			burst := at.Minute()%10 == 0
			v := w.value(at, rng)
			if burst {
				v *= 30
			}
			if hour, drift := departs(at, v, burst); hour || drift {
				found = at
			}
		}
		t.Logf("known=%v: a night of bursts in every other window departs at %s", known, found.Format("15:04"))
		if known && found.IsZero() {
			t.Error("a night of known bursts in every other window never departs")
		}
		if !known && !found.IsZero() {
			t.Errorf("bursts noted as anomalous depart at %s: they are counted in the hours' means", found.Format("15:04"))
		}
	}
}
