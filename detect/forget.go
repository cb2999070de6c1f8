package detect

import "time"

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
