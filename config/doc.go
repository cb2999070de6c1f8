// Package config owns the exporter's configuration: Calico's environment
// variables, GlobalAlert files, our own YAML, validation, and the effective
// settings with their origin.
//
// Existing Calico users change nothing: ReadEnv reads the variables of
// Calico's ad-jobs-deployment (CLUSTER_NAME, AD_*, ES_*, ELASTIC_*) and
// every detector's own variable (detect.Param.Env) under Calico's names and
// defaults; LoadGlobalAlerts reads the GlobalAlert resources of Calico
// 3.14–3.18 as kubectl takes them. LoadFile reads our own file for what
// Calico had no knob for:
//
//	clusters: [prod-eu, prod-us]
//	elasticsearch:
//	  index_layout: legacy        # or single
//	  tenant: acme
//	metrics:
//	  max_series_per_detector: 10000
//	detectors:
//	  port_scan:
//	    enabled: true
//	    severity: 90
//	    period: 5m
//	    score_threshold: 0.6      # alert at or above this score
//	    settings:                 # the detector's own, by detect.Param.Key
//	      threshold: 200
//	silences:
//	  - detector: "generic_*"     # globs; an empty field matches anything
//	    namespace: kube-system
//	    workload: "*"
//	    until: 2026-12-31T23:00:00Z
//	    comment: noisy during the upgrade
//
// Resolve merges defaults < environment < file < GlobalAlerts < flags into
// a Config that keeps each setting's origin. Every parser reports all the
// problems it finds, each naming the variable or the file:line:column and
// what was expected.
//
// Each exporter-wide setting is defined once, in settings.go's globals:
// its flag, help and default, the typed Config field it fills, and the
// Calico variable or file key that may also give it. AddFlags makes the
// flags from that table, bound straight to typed fields, plus one
// --detector.<name> per registered detector and --config.check;
// Flags.Load merges the flags the user gave (kingpin's IsSetByUser) with
// the environment and the files. The exporter runs with, and /config
// shows, that one Config. SafeConfig holds the configuration in force and
// swaps it whole on a reload, refusing one that does not load.
package config
