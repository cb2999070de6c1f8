package detect

import (
	"cmp"
	"slices"
	"time"
)

// forgetAfter is how long the HTTP and process detectors keep the model of
// an entity they no longer see: two weeks. Workloads come and go (a
// rollout gives the pods a new replica set, so a new name), and a model
// that never forgot would grow with every rollout.
const forgetAfter = 14 * 24 * time.Hour

// forgetter paces the sweeps of forgotten entities: at most one a day of
// window time.
type forgetter struct{ last time.Time }

// due reports whether a sweep is due at window end at, and if so returns
// the time before which entities not seen are forgotten.
func (f *forgetter) due(at time.Time) (cut time.Time, ok bool) {
	if at.Sub(f.last) < 24*time.Hour {
		return time.Time{}, false
	}
	f.last = at
	return at.Add(-forgetAfter), true
}

// EntityBounded is a detector whose model keeps state per entity and can
// forget the least recently seen entities, so the engine can bound its
// memory whatever names arrive (engine.Config.MaxEntitiesPerDetector).
// Every detector keeping per-entity state should implement it.
type EntityBounded interface {
	// LiveEntities is how many entities the model holds state for.
	LiveEntities() int
	// ForgetLeastRecent drops the state of the least recently seen
	// entities until at most keep remain, and returns how many it
	// dropped. A forgotten entity seen again is learned afresh.
	ForgetLeastRecent(keep int) int
}

// leastRecent returns the keys of last beyond the keep most recently seen
// (by last-seen time, ties broken by key so the choice is the same every
// run), oldest first.
func leastRecent[K cmp.Ordered](last map[K]int64, keep int) []K {
	if keep < 0 {
		keep = 0
	}
	if len(last) <= keep {
		return nil
	}
	keys := make([]K, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int {
		if c := cmp.Compare(last[a], last[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return keys[:len(keys)-keep]
}

// entityClock records when each entity was last seen (Unix seconds), for
// the detectors whose state is keyed by Entity.
type entityClock map[Entity]int64

// see records that e was seen at t.
func (c entityClock) see(e Entity, t time.Time) {
	if at, ok := c[e]; !ok || t.Unix() > at {
		c[e] = t.Unix()
	}
}

// forget removes the entities beyond the keep most recently seen from the
// clock and returns them, oldest first (leastRecent's order).
func (c entityClock) forget(keep int) []Entity {
	if len(c) <= max(keep, 0) {
		return nil
	}
	byKey := make(map[string]int64, len(c))
	entities := make(map[string]Entity, len(c))
	for e, at := range c {
		k := e.Key()
		byKey[k], entities[k] = at, e
	}
	keys := leastRecent(byKey, keep)
	gone := make([]Entity, len(keys))
	for i, k := range keys {
		gone[i] = entities[k]
		delete(c, gone[i])
	}
	return gone
}

// sharedModelKeys returns the model keys (Entity.ModelKey) of the entities
// of live: a forgotten entity's baselines are kept when a live entity (the
// other ReplicaSet of a rollout) shares them.
func sharedModelKeys[V any](live map[Entity]V) map[string]bool {
	keys := make(map[string]bool, len(live))
	for e := range live {
		keys[e.ModelKey()] = true
	}
	return keys
}
