package engine

import (
	"fmt"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// Selection holds the --detector.<name> flags made from the registry, the
// way node_exporter makes --collector.<name> flags.
type Selection struct {
	enabled map[string]*bool
}

// AddDetectorFlags adds one --detector.<name> / --no-detector.<name> flag
// per registered detector to app.
func AddDetectorFlags(app *kingpin.Application) *Selection {
	s := &Selection{enabled: map[string]*bool{}}
	for _, info := range detect.Registered() {
		def := "false"
		if info.DefaultEnabled {
			def = "true"
		}
		help := fmt.Sprintf("Enable the %s detector: %s", info.Name, info.Help)
		s.enabled[info.Name] = app.Flag("detector."+detect.FlagName(info.Name), help).Default(def).Bool()
	}
	return s
}

// Enabled lists the enabled detectors' names in registry order.
func (s *Selection) Enabled() []string {
	var out []string
	for _, info := range detect.Registered() {
		if p := s.enabled[info.Name]; p != nil && *p {
			out = append(out, info.Name)
		}
	}
	return out
}

// Build constructs the enabled detectors for cluster, reading each
// detector's settings from Calico's environment variables (getenv, usually
// os.Getenv) where the detector declares one.
func Build(names []string, cluster string, getenv func(string) string, logger log.Logger) ([]detect.Detector, error) {
	return BuildWith(names, BuildOptions{Cluster: cluster, Getenv: getenv, Logger: logger})
}

// BuildOptions are what every detector instance is built with.
type BuildOptions struct {
	Cluster string
	// Getenv reads Calico's environment variables; nil means os.Getenv.
	Getenv func(string) string
	Logger log.Logger
	// Params are settings by detector name and Param.Key from our own
	// configuration; they win over the environment.
	Params        map[string]map[string]string
	Bucket        time.Duration
	TrainInterval time.Duration
	Seed          int64
}

// BuildWith constructs the named detectors with o.
func BuildWith(names []string, o BuildOptions) ([]detect.Detector, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	logger := o.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	var out []detect.Detector
	for _, name := range names {
		info, ok := detect.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("unknown detector %q", name)
		}
		params := map[string]string{}
		for _, p := range info.Params {
			if p.Env != "" {
				if v := getenv(p.Env); v != "" {
					params[p.Key] = v
				}
			}
		}
		for k, v := range o.Params[name] {
			params[k] = v
		}
		d, err := info.New(detect.Options{
			Cluster: o.Cluster, Params: params, Logger: log.With(logger, "detector", name),
			Bucket: o.Bucket, TrainInterval: o.TrainInterval, Seed: o.Seed,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
