package detect

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// limitedSettings reads the settings of an HTTP detector with an alert
// limiter: its score threshold, within (0, 1], and its
// events_per_day limiter, each error naming Calico's variable.
func limitedSettings(name string, o Options) (float64, *eventsPerDay, error) {
	info, _ := Lookup(name)
	t, err := o.Float(info, "threshold")
	if err != nil {
		return 0, nil, err
	}
	if !(t > 0 && t <= 1) {
		return 0, nil, fmt.Errorf("detector %s: %s=%v is not within (0, 1]", name, envOrKey(info, "threshold"), t)
	}
	rate, err := o.Float(info, "events_per_day")
	if err != nil {
		return 0, nil, err
	}
	l, err := newEventsPerDay(rate, "detector "+name+": "+envOrKey(info, "events_per_day"))
	if err != nil {
		return 0, nil, err
	}
	return t, l, nil
}

// serviceHistories is what the HTTP detectors with an alert limiter learn:
// one history per service, forgotten once unseen for forgetAfter, saved
// with the limiter. H is the detector's own history type.
type serviceHistories[H any] map[Entity]*H

// savedService is one service's history in a saved model.
type savedService[H any] struct {
	Entity  Entity `json:"entity"`
	History H      `json:"history"`
}

// sweep forgets the services whose last window (lastSeen) is before cut.
func (s serviceHistories[H]) sweep(cut time.Time, lastSeen func(*H) time.Time) {
	for e, h := range s {
		if lastSeen(h).Before(cut) {
			delete(s, e)
		}
	}
}

// save writes the histories, sorted by entity, and the limiter.
func (s serviceHistories[H]) save(w io.Writer, name string, rows int, limiter *eventsPerDay) error {
	list := make([]savedService[H], 0, len(s))
	for e, h := range s {
		list = append(list, savedService[H]{Entity: e, History: *h})
	}
	sort.Slice(list, func(i, j int) bool { return entityLess(list[i].Entity, list[j].Entity) })
	m, err := json.Marshal(list)
	if err != nil {
		return err
	}
	l, err := json.Marshal(limiter)
	if err != nil {
		return err
	}
	return writeModelFile(w, name, rows, m, l)
}

// loadServiceHistories reads what save wrote, refusing a history that check
// finds inconsistent; rate is the limiter's configured rate.
func loadServiceHistories[H any](r io.Reader, name string, rate float64, check func(*H) error) (serviceHistories[H], *eventsPerDay, int, error) {
	rows, parts, err := readModelFile(r, name, 2)
	if err != nil {
		return nil, nil, 0, err
	}
	var list []savedService[H]
	if err := json.Unmarshal(parts[0], &list); err != nil {
		return nil, nil, 0, fmt.Errorf("%s model: %v: %w", name, err, errModelFile)
	}
	out := make(serviceHistories[H], len(list))
	for _, s := range list {
		h := s.History
		if err := check(&h); err != nil {
			return nil, nil, 0, fmt.Errorf("%s model: service %s %v: %w", name, s.Entity.Key(), err, errModelFile)
		}
		out[s.Entity] = &h
	}
	l := &eventsPerDay{rate: rate}
	if err := json.Unmarshal(parts[1], l); err != nil {
		return nil, nil, 0, fmt.Errorf("%s model: %v: %w", name, err, errModelFile)
	}
	return out, l, rows, nil
}

// forgetLeastRecent drops the histories (and alert limiter buckets) of the
// services seen least recently until keep remain, and returns how many it
// dropped.
func (s serviceHistories[H]) forgetLeastRecent(keep int, lastSeen func(*H) time.Time, limiter *eventsPerDay) int {
	clock := make(entityClock, len(s))
	for e, h := range s {
		clock[e] = lastSeen(h).Unix()
	}
	gone := clock.forget(keep)
	for _, e := range gone {
		delete(s, e)
		if limiter != nil {
			delete(limiter.buckets, e)
		}
	}
	return len(gone)
}
