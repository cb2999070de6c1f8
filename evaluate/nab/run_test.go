package nab

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestEvaluateSyntheticCorpus replays testdata/corpus: five days of a
// daily shape with noise, twenty times the usual for half an hour on day
// 4 and silence for two hours on day 5; the first two days are learned.
// The rise is found by the detectors and both z-scores, the silence by
// the same-hour band (the 24 h z-score, whose spread holds the daily
// swing, sees nothing odd in a zero), and the silence is a drop.
func TestEvaluateSyntheticCorpus(t *testing.T) {
	corpus, err := LoadCorpus("testdata/corpus", nil)
	if err != nil {
		t.Fatal(err)
	}
	report, err := Evaluate(context.Background(), corpus, Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Series) != 1 {
		t.Fatalf("%d series, want 1 (skipped %v)", len(report.Series), report.Skipped)
	}
	s := report.Series[0]
	if s.Days != 3 {
		t.Errorf("judged %.2f days, want 3", s.Days)
	}
	found := func(name string, k int) bool {
		o, ok := s.Outcomes[name]
		if !ok || len(o.Windows) != 2 {
			t.Fatalf("%s: outcome %+v, want two windows", name, o)
		}
		return o.Windows[k].Found
	}
	for _, name := range []string{Ours, "zscore>3", "zscore>5", "hour-band>5"} {
		if !found(name, 0) {
			t.Errorf("%s missed the rise", name)
		}
	}
	if !found("hour-band>5", 1) {
		t.Error("hour-band>5 missed the silence")
	}
	if found("zscore>5", 1) {
		t.Error("zscore>5 found the silence: the case does not show what the band adds")
	}
	if o := s.Outcomes[Ours]; o.Windows[0].Drop || !o.Windows[1].Drop {
		t.Errorf("drops %v, %v; want the rise not a drop and the silence a drop", o.Windows[0].Drop, o.Windows[1].Drop)
	}
	if d := s.Outcomes[Ours].Windows[0].DelayMinutes; d < 60 || d > 70 {
		t.Errorf("found the rise %.0f min after the window's start, want 60-70 (it begins an hour in)", d)
	}
	ours, _ := report.Total(Ours)
	if ours.Windows != 2 || ours.Drops != 1 {
		t.Errorf("totals: %d windows, %d drops; want 2, 1", ours.Windows, ours.Drops)
	}

	var text bytes.Buffer
	if err := report.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"synthetic/rise_and_silence.csv", "per detector", "generic_flows", "by day since judging began", "NAB score"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := report.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Totals []struct {
			Name  string   `json:"name"`
			Found int      `json:"found"`
			NAB   *float64 `json:"nab_score"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Totals) != len(report.Totals) || back.Totals[0].Name != Ours || back.Totals[0].NAB == nil {
		t.Errorf("JSON totals %+v, want ours first with a NAB score", back.Totals)
	}
}
