package detect

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// eventsPerDay is Calico's *_EVENTS_PER_DAY_THRESHOLD: a detector alerts
// for one entity at most that many times per day on average. It is a token
// bucket per entity, refilled at rate tokens a day up to max(1, rate)
// tokens and full at first sight: an alert spends a token, and an alert
// without one is kept as a verdict but its score capped just below the
// threshold, its Summary saying so. Time is the windows' own (their end),
// never the wall clock, so replayed history limits the same way.
//
// With a rate of 0.3 a service alerts once, then at most once every 3.3
// days; with 1, once a day. A rate of 0 never lets an alert through.
type eventsPerDay struct {
	rate    float64 // tokens per day
	buckets map[Entity]*tokenBucket
	// lastPrune is the window end of the last sweep of full buckets.
	lastPrune time.Time
}

type tokenBucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// newEventsPerDay returns a limiter of rate alerts per day per entity; a
// negative or non-finite rate is refused naming setting.
func newEventsPerDay(rate float64, setting string) (*eventsPerDay, error) {
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("%s=%v must be a number of alerts per day, 0 or more", setting, rate)
	}
	return &eventsPerDay{rate: rate, buckets: map[Entity]*tokenBucket{}}, nil
}

// capacity is the most tokens a bucket holds: one alert may always follow a
// quiet spell, more when the rate allows several a day.
func (l *eventsPerDay) capacity() float64 { return max(1, l.rate) }

// refill brings b up to time at.
func (l *eventsPerDay) refill(b *tokenBucket, at time.Time) {
	if at.After(b.at) {
		b.tokens = min(l.capacity(), b.tokens+l.rate*at.Sub(b.at).Hours()/24)
		b.at = at
	}
}

// limit passes v through when it is not anomalous or its entity has a token
// left at the end of its window (spending it); otherwise it caps the
// score just below the threshold and says so in the Summary.
func (l *eventsPerDay) limit(v Verdict) Verdict {
	if !v.Anomalous() {
		return v
	}
	at := v.Window.End
	l.prune(at)
	b := l.buckets[v.Entity]
	if b == nil {
		b = &tokenBucket{tokens: l.capacity(), at: at}
		l.buckets[v.Entity] = b
	}
	l.refill(b, at)
	if l.rate > 0 && b.tokens >= 1 {
		b.tokens--
		return v
	}
	v.Summary += fmt.Sprintf(" [alert withheld: score %.3f capped below %.3f, at most %.4g alerts per day for this entity]", v.Score, v.Threshold, l.rate)
	v.Score = math.Nextafter(v.Threshold, math.Inf(-1))
	v.EvidenceQuery = nil
	return v
}

// prune forgets buckets that have refilled completely, once a day, so
// memory follows the entities that alerted recently.
func (l *eventsPerDay) prune(at time.Time) {
	if at.Sub(l.lastPrune) < 24*time.Hour {
		return
	}
	l.lastPrune = at
	if l.rate == 0 {
		return
	}
	for e, b := range l.buckets {
		l.refill(b, at)
		if b.tokens >= l.capacity() {
			delete(l.buckets, e)
		}
	}
}

// savedBucket is one entity's bucket in a saved model.
type savedBucket struct {
	Entity Entity    `json:"entity"`
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

// MarshalJSON writes the buckets in entity order, so the same state gives
// the same bytes.
func (l *eventsPerDay) MarshalJSON() ([]byte, error) {
	out := struct {
		LastPrune time.Time     `json:"last_prune"`
		Buckets   []savedBucket `json:"buckets"`
	}{LastPrune: l.lastPrune, Buckets: make([]savedBucket, 0, len(l.buckets))}
	for e, b := range l.buckets {
		out.Buckets = append(out.Buckets, savedBucket{Entity: e, Tokens: b.tokens, At: b.at})
	}
	sort.Slice(out.Buckets, func(i, j int) bool { return entityLess(out.Buckets[i].Entity, out.Buckets[j].Entity) })
	return json.Marshal(out)
}

// UnmarshalJSON replaces the buckets (the rate stays as configured).
func (l *eventsPerDay) UnmarshalJSON(data []byte) error {
	var in struct {
		LastPrune time.Time     `json:"last_prune"`
		Buckets   []savedBucket `json:"buckets"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("events per day limiter: %w", err)
	}
	buckets := make(map[Entity]*tokenBucket, len(in.Buckets))
	for _, b := range in.Buckets {
		if math.IsNaN(b.Tokens) || b.Tokens < 0 {
			return fmt.Errorf("events per day limiter: entity %s has %v tokens", b.Entity.Key(), b.Tokens)
		}
		buckets[b.Entity] = &tokenBucket{tokens: min(b.Tokens, l.capacity()), at: b.At}
	}
	l.buckets, l.lastPrune = buckets, in.LastPrune
	return nil
}
