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
		return createSilence(t, amURL, matcherValue, isRegex, comment, by, time.Hour)
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

// createSilence creates a silence of the incident label in the real
// Alertmanager at amURL, ending after lasts, and deletes it when the test
// ends.
func createSilence(t *testing.T, amURL, matcherValue string, isRegex bool, comment, by string, lasts time.Duration) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"matchers":  []map[string]any{{"name": IncidentLabel, "value": matcherValue, "isRegex": isRegex, "isEqual": true}},
		"startsAt":  time.Now().UTC().Format(time.RFC3339Nano),
		"endsAt":    time.Now().Add(lasts).UTC().Format(time.RFC3339Nano),
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
	t.Cleanup(func() { expireSilence(t, amURL, out.SilenceID) })
	return out.SilenceID
}

// expireSilence expires a silence by hand, as Alertmanager's Expire
// button does.
func expireSilence(t *testing.T, amURL, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, amURL+"/api/v2/silence/"+id, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

// TestWithdrawnSilencesFromTheRealAlertmanager: in the test bed's
// Alertmanager 0.25, a silence expired by hand before its end reads back
// as withdrawn (its decision is to be undone); one that ran to its end,
// and one still active, do not.
func TestWithdrawnSilencesFromTheRealAlertmanager(t *testing.T) {
	amURL := testbed.AlertmanagerURL(t)
	unique := fmt.Sprintf("%x", time.Now().UnixNano())
	withdrawn := createSilence(t, amURL, "withdrawn-"+unique, false, "expected: load test", "carol", time.Hour)
	ranOut := createSilence(t, amURL, "ran-out-"+unique, false, "expected: short maintenance", "dave", 1500*time.Millisecond)
	active := createSilence(t, amURL, "active-"+unique, false, "expected: nightly backup", "erin", time.Hour)

	n, err := New(Config{URLs: []string{amURL}}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	read := func() map[string]ExpectedSilence {
		t.Helper()
		got, err := n.ExpectedSilences(context.Background(), "expected")
		if err != nil {
			t.Fatal(err)
		}
		ours := map[string]ExpectedSilence{}
		for _, s := range got {
			if len(s.Incident) > len(unique) && s.Incident[len(s.Incident)-len(unique):] == unique {
				ours[s.SilenceID] = s
			}
		}
		return ours
	}
	before := read()
	for _, id := range []string{withdrawn, ranOut, active} {
		if s, ok := before[id]; !ok || s.Withdrawn {
			t.Errorf("silence %s before any expiry: %+v (listed %v), want listed and not withdrawn", id, s, ok)
		}
	}
	expireSilence(t, amURL, withdrawn)
	time.Sleep(2 * time.Second) // ranOut reaches its end
	after := read()
	if s, ok := after[withdrawn]; !ok || !s.Withdrawn || s.Incident != "withdrawn-"+unique || s.CreatedBy != "carol" {
		t.Errorf("the silence expired by hand reads %+v (listed %v), want carol's, withdrawn", s, ok)
	}
	if s, ok := after[ranOut]; ok {
		t.Errorf("the silence that ran to its end is listed: %+v", s)
	}
	if s, ok := after[active]; !ok || s.Withdrawn {
		t.Errorf("the active silence reads %+v (listed %v), want listed and not withdrawn", s, ok)
	}
}
