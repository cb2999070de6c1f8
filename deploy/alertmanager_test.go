package deploy

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

var update = flag.Bool("update", false, "rewrite the Alertmanager example's performance route from the detector registry")

const alertmanagerExample = "alertmanager/alertmanager.yml"

// performanceMatcher is the matcher line of the example's performance
// route, the one place the file lists detectors.
var performanceMatcher = regexp.MustCompile(`(?m)^(\s*- detector=~")([^"]*)("\s*)$`)

// performanceDetectors is the registry's performance family (detectors of
// both families alert as security ones), as an Alertmanager regular
// expression.
func performanceDetectors() string {
	var names []string
	for _, info := range detect.Registered() {
		if info.Family == detect.Performance {
			names = append(names, info.Name)
		}
	}
	return strings.Join(names, "|")
}

// TestAlertmanagerRoutesAreGeneratedFromTheRegistry keeps the example's
// performance route equal to the registry's performance family: a new
// performance detector fails here until `make generate` rewrites the
// route, so its alerts never land in the security channel unnoticed.
func TestAlertmanagerRoutesAreGeneratedFromTheRegistry(t *testing.T) {
	raw, err := os.ReadFile(alertmanagerExample)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(performanceMatcher.FindAll(raw, -1)); n != 1 {
		t.Fatalf("%s has %d detector matchers, want the performance route's one", alertmanagerExample, n)
	}
	want := performanceMatcher.ReplaceAll(raw, []byte("${1}"+performanceDetectors()+"${3}"))
	if *update && string(want) != string(raw) {
		if err := os.WriteFile(alertmanagerExample, want, 0o644); err != nil {
			t.Fatal(err)
		}
		raw = want
	}
	// The matcher sits on the route to the performance channel.
	var cfg struct {
		Route struct {
			Routes []struct {
				Routes []struct {
					Receiver string   `json:"receiver"`
					Matchers []string `json:"matchers"`
				} `json:"routes"`
			} `json:"routes"`
		} `json:"route"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	var matchers []string
	for _, r := range cfg.Route.Routes {
		for _, sub := range r.Routes {
			if sub.Receiver == "performance-chat" {
				matchers = append(matchers, sub.Matchers...)
			}
		}
	}
	if wantMatcher := `detector=~"` + performanceDetectors() + `"`; len(matchers) != 1 || matchers[0] != wantMatcher {
		t.Errorf("the performance route matches %q, the registry's performance family is %s: run `make generate`", matchers, wantMatcher)
	}
}
