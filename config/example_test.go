package config_test

import (
	"fmt"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
)

func ExampleResolve() {
	env, err := config.ReadEnv(func(name string) string {
		return map[string]string{"AD_search_interval_minutes": "5", "AD_port_scan_threshold": "200", "ELASTIC_PASSWORD": "changeme"}[name]
	})
	if err != nil {
		panic(err)
	}
	file, err := config.ParseFile("exporter.yaml", []byte("detectors:\n  port_scan:\n    severity: 90\n"))
	if err != nil {
		panic(err)
	}
	cfg, err := config.Resolve(config.Sources{Env: env, File: file, Flags: map[string]string{"es.cluster": "prod"}})
	if err != nil {
		panic(err)
	}
	for _, name := range []string{
		config.SettingClusters, config.SettingSearchInterval, config.SettingElasticPassword,
		config.DetectorSetting("port_scan", "threshold"), config.DetectorSetting("port_scan", "severity"),
	} {
		s, _ := cfg.Setting(name)
		fmt.Printf("%s = %s (%s)\n", s.Name, s.Value, s.Origin)
	}
	fmt.Println(cfg.Params()["port_scan"]["threshold"], cfg.Elasticsearch.Password)
	// Output:
	// clusters = prod (flag --es.cluster)
	// search_interval = 5m0s (env AD_search_interval_minutes)
	// elasticsearch.password = <secret> (env ELASTIC_PASSWORD)
	// detector.port_scan.threshold = 200 (env AD_port_scan_threshold)
	// detector.port_scan.severity = 90 (file exporter.yaml:3)
	// 200 <secret>
}
