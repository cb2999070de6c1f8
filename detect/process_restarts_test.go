package detect

import (
	"strings"
	"testing"
)

// AD_PROCESS_RESTARTS_MIN_RESTARTS sets the fewest restarts that alert;
// the older AD_ProcessRestarts_threshold is its alias when it is not set.
func TestProcessRestartsSettings(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]string
		want    float64
		wantErr string
	}{
		{"Calico's default", nil, 4, ""},
		{"min restarts set", map[string]string{"min_restarts": "6"}, 6, ""},
		{"the workshop's older threshold", map[string]string{"threshold": "5"}, 5, ""},
		{"the newer name wins over the older", map[string]string{"min_restarts": "3", "threshold": "5"}, 3, ""},
		{"an older threshold that is not a number", map[string]string{"threshold": "five"}, 0, "AD_ProcessRestarts_threshold"},
		{"fewer than one restart", map[string]string{"min_restarts": "0"}, 0, "AD_PROCESS_RESTARTS_MIN_RESTARTS"},
		{"sensitivity out of range", map[string]string{"sensitivity": "101"}, 0, "AD_PROCESS_RESTARTS_SENSITIVITY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newProcessRestarts(Options{Params: tt.params})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := d.(*processRestarts).minRestarts; got != tt.want {
				t.Errorf("min restarts %v, want %v", got, tt.want)
			}
		})
	}
}
