package main

import (
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
)

func TestNotifyFlags(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		wantErr      string
		wantSinks    int
		wantSilenced []string
		wantMinScore float64
	}{
		{name: "nothing asked: no notifier on the simulated cluster", args: nil, wantSinks: 0},
		{name: "an Alertmanager", args: []string{"--alertmanager.url=http://am:9093"}, wantSinks: 1},
		{name: "a dry run needs no Alertmanager", args: []string{"--alert.dry-run"}, wantSinks: 1},
		{name: "silences in both spellings, repeated or comma-separated",
			args:      []string{"--alert.dry-run", "--alert.silence=port-scan", "--alert.silence=ip_sweep,port_scan", "--alert.min-score=0.7"},
			wantSinks: 1, wantSilenced: []string{"ip_sweep", "port_scan"}, wantMinScore: 0.7},
		{name: "an unknown detector", args: []string{"--alert.silence=port_scam"}, wantErr: `--alert.silence: no detector named "port_scam"`},
		{name: "a minimum score above 1", args: []string{"--alert.min-score=1.5"}, wantErr: "minimum score 1.5 is outside 0..1"},
		{name: "a bad Alertmanager URL", args: []string{"--alertmanager.url=am:9093"}, wantErr: `alertmanager URL "am:9093"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := kingpin.New("test", "")
			f := addNotifyFlags(app)
			if _, err := app.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			p, perr := f.policy()
			built, err := f.build(simulate.NewSource(simulate.New(simulate.Options{})), "", notify.NewLivePolicy(p), incidents{}, log.NewNopLogger())
			if perr != nil {
				err = perr
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("build: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || perr != nil {
				t.Fatalf("build: %v, policy: %v", err, perr)
			}
			if len(built.sinks) != tt.wantSinks || len(built.collectors) != tt.wantSinks || len(built.runs) != tt.wantSinks {
				t.Errorf("%d sinks, %d collectors, %d runs; want %d each", len(built.sinks), len(built.collectors), len(built.runs), tt.wantSinks)
			}
			if len(p.Silenced) != len(tt.wantSilenced) {
				t.Errorf("silenced %v, want %v", p.Silenced, tt.wantSilenced)
			}
			for _, d := range tt.wantSilenced {
				if !p.Silenced[d] {
					t.Errorf("%s not silenced: %v", d, p.Silenced)
				}
			}
			if p.MinScore != tt.wantMinScore {
				t.Errorf("min score %v, want %v", p.MinScore, tt.wantMinScore)
			}
		})
	}
}
