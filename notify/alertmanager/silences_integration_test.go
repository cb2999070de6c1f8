//go:build integration

package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
)

// TestExpectedSilencesFromTheRealAlertmanager creates silences in the test
// bed's Alertmanager 0.25 and reads back only the one that marks an
// incident expected: an equality matcher on the incident label and a
// comment starting with the agreed word.
func TestExpectedSilencesFromTheRealAlertmanager(t *testing.T) {
	amURL := testbed.AlertmanagerURL(t)
	unique := fmt.Sprintf("%x", time.Now().UnixNano())
	create := func(matcherValue string, isRegex bool, comment, by string) string {
		t.Helper()
		body, _ := json.Marshal(map[string]any{
			"matchers":  []map[string]any{{"name": IncidentLabel, "value": matcherValue, "isRegex": isRegex, "isEqual": true}},
			"startsAt":  time.Now().UTC().Format(time.RFC3339),
			"endsAt":    time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"createdBy": by,
			"comment":   comment,
		})
		res, err := http.Post(amURL+"/api/v2/silences", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			SilenceID string `json:"silenceID"`
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("creating a silence: %d %v", res.StatusCode, err)
		}
		t.Cleanup(func() {
			req, _ := http.NewRequest(http.MethodDelete, amURL+"/api/v2/silence/"+out.SilenceID, nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		})
		return out.SilenceID
	}
	want := create("inc-"+unique, false, "Expected: the nightly backup to the object store", "carol")
	create("maint-"+unique, false, "maintenance window", "dave")
	create("re-"+unique+".*", true, "expected, all of them", "erin")
	create("word-"+unique, false, "expectedly noisy", "frank")

	n, err := New(Config{URLs: []string{amURL}}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.ExpectedSilences(context.Background(), "expected")
	if err != nil {
		t.Fatal(err)
	}
	var ours []ExpectedSilence
	for _, s := range got {
		if len(s.Incident) > len(unique) && s.Incident[len(s.Incident)-len(unique):] == unique {
			ours = append(ours, s)
		}
	}
	if len(ours) != 1 || ours[0].SilenceID != want || ours[0].Incident != "inc-"+unique || ours[0].CreatedBy != "carol" {
		t.Errorf("expected silences %+v, want only carol's silence %s of incident inc-%s", ours, want, unique)
	}
}
