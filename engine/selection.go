package engine

import (
	"fmt"
	"os"
	"time"

	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

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
	detect.ShareBaselines(out)
	return out, nil
}
