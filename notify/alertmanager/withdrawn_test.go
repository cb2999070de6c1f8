package alertmanager

import (
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
)

func TestSilencesExpiredByHandAreWithdrawn(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *strfmt.DateTime { x := strfmt.DateTime(t0.Add(d)); return &x }
	for _, tc := range []struct {
		name          string
		updated, ends *strfmt.DateTime
		want          bool
	}{
		{"expired by hand: end and update at one instant", at(time.Hour), at(time.Hour), true},
		{"ran to its end after its last update", at(0), at(time.Hour), false},
		{"an edit after its end (cannot happen) counts as by hand", at(2 * time.Hour), at(time.Hour), true},
		{"no update time", nil, at(time.Hour), false},
	} {
		s := &models.GettableSilence{UpdatedAt: tc.updated, Silence: models.Silence{EndsAt: tc.ends}}
		if got := withdrawnEarly(s); got != tc.want {
			t.Errorf("%s: withdrawn %v, want %v", tc.name, got, tc.want)
		}
	}
}
