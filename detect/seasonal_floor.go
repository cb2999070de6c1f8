package detect

import (
	"math"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
)

// logDeviation is how many spreads v lies above the baseline of key at t
// in a LogScale seasonal model, with the spread of the logarithm never
// below floor(expected): the model's own floor is the counting noise of
// independent events, and some quantities vary more than that in the
// normal course (requests arrive several per connection, bytes several
// kilobytes per request). ok is false while the key has no baseline.
func logDeviation(m *model.Seasonal, key string, t time.Time, v float64, floor func(expected float64) float64) (z, expected float64, ok bool) {
	expected, spread, ok := m.Expect(key, t)
	if !ok || math.IsNaN(v) {
		return 0, 0, false
	}
	mean := math.Log1p(max(expected, 0))
	sp := max(math.Log1p(max(expected+spread, 0))-mean, floor(expected))
	return (math.Log1p(max(v, 0)) - mean) / sp, expected, true
}
