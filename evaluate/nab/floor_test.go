package nab

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/floor.json from this run")

// floorSeries are a few NAB series of different kinds: a daily shape
// whose peak falls, a spiky CPU, an autoscaling group's CPU that drops
// to zero, a bursty request count and an RDS CPU whose level moves.
var floorSeries = []string{
	"art_daily_jumpsdown.csv",
	"ec2_cpu_utilization_24ae8d.csv",
	"grok_asg_anomaly.csv",
	"elb_request_count_8c0756.csv",
	"rds_cpu_utilization_e47b3b.csv",
}

// floor is what the detectors reached on floorSeries when it was last
// measured (go test ./evaluate/nab -run NABFloor -update), and what the
// baselines reached: their figures are arithmetic on the data and move
// only when the scoring does.
type floor struct {
	Found       int     `json:"found"`
	DropsFound  int     `json:"drops_found"`
	FalseAlerts int     `json:"false_alerts"`
	NAB         float64 `json:"nab_score"`
	// Baselines holds found and false alerts per baseline.
	Baselines map[string][2]int `json:"baselines"`
	Windows   int               `json:"windows"`
}

// TestNABFloor replays a few NAB series through the default flow
// detectors and keeps their totals from falling back: no fewer windows
// or drops found, no more false alerts, no lower NAB score than the
// floor in testdata/floor.json. When the models get better, -update
// raises the floor.
func TestNABFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("replays five NAB series through the detectors")
	}
	dir := os.Getenv("NAB_DATA")
	if dir == "" {
		dir = "../../../shared/datasets/nab-dev"
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the NAB development set is not at %s (../shared beside the clone; NAB_DATA names another folder): %v", dir, err)
	}
	corpus, err := LoadCorpus(dir, floorSeries)
	if err != nil {
		t.Fatal(err)
	}
	if len(corpus.Series) != len(floorSeries) {
		t.Fatalf("read %d series, want %d (skipped: %v)", len(corpus.Series), len(floorSeries), corpus.Skipped)
	}
	report, err := Evaluate(context.Background(), corpus, Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := floor{Baselines: map[string][2]int{}}
	for _, tot := range report.Totals {
		t.Logf("%-18s found %d/%d, drops %d/%d, median delay %.0f min, %d false alerts (%.2f per series-day), NAB %.1f",
			tot.Name, tot.Found, tot.Windows, tot.DropsFound, tot.Drops, tot.MedianDelayMinutes, tot.FalseAlerts, tot.FalseAlertsPerDay, tot.NABScore)
		switch tot.Kind {
		case "ours":
			got.Found, got.DropsFound, got.FalseAlerts, got.NAB, got.Windows = tot.Found, tot.DropsFound, tot.FalseAlerts, math.Round(tot.NABScore*10)/10, tot.Windows
		case "baseline":
			got.Baselines[tot.Name] = [2]int{tot.Found, tot.FalseAlerts}
		}
	}
	path := "testdata/floor.json"
	if *update {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(got); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want floor
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got.Windows != want.Windows {
		t.Fatalf("%d windows judged, the floor was measured on %d", got.Windows, want.Windows)
	}
	if got.Found < want.Found {
		t.Errorf("found %d of %d windows, the floor is %d", got.Found, got.Windows, want.Found)
	}
	if got.DropsFound < want.DropsFound {
		t.Errorf("found %d drops, the floor is %d", got.DropsFound, want.DropsFound)
	}
	if got.FalseAlerts > want.FalseAlerts {
		t.Errorf("%d false alerts, the floor allows %d", got.FalseAlerts, want.FalseAlerts)
	}
	if got.NAB < want.NAB-0.05 {
		t.Errorf("NAB score %.1f, the floor is %.1f", got.NAB, want.NAB)
	}
	for name, w := range want.Baselines {
		if got.Baselines[name] != w {
			t.Errorf("baseline %s: found %d, %d false alerts; measured %d, %d: the scoring changed", name,
				got.Baselines[name][0], got.Baselines[name][1], w[0], w[1])
		}
	}
}
