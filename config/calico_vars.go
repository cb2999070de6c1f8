package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// calicoAlias is a Calico variable that sets a detector setting under a
// name other than the setting's own (detect.Param.Env).
type calicoAlias struct {
	detector, key string
}

// calicoAliases are the documented per-model names of settings that a
// shared variable also sets: AD_SeasonalAD_c sets both bytes detectors'
// c, AD_BytesInModel_SeasonalAD_c only bytes_in's, and wins over it.
var calicoAliases = map[string]calicoAlias{
	"AD_BytesInModel_SeasonalAD_c":  {"bytes_in", "c"},
	"AD_BytesOutModel_SeasonalAD_c": {"bytes_out", "c"},
}

// calicoNoEffect are variables Calico documented, or its controller set on
// the pod, whose knob has no counterpart here, with the reason. They are
// accepted with a warning, never reported as misspelt.
var calicoNoEffect = map[string]string{
	"AD_ProcessRestarts_IsolationForest_score_threshold": "process_restarts compares a pod's restarts with its workload's usual ones " +
		"(AD_PROCESS_RESTARTS_SENSITIVITY, AD_PROCESS_RESTARTS_MIN_RESTARTS or AD_ProcessRestarts_threshold), it has no isolation forest",
	"AD_HttpConnectionSpike_IsolationForest_n_estimators": "http_connection_spike is a seasonal baseline of each service's requests " +
		"tuned by AD_HTTP_CONNECTION_SPIKE_SENSITIVITY, it has no isolation forest",
	"AD_HttpConnectionSpike_IsolationForest_score_threshold": "http_connection_spike is a seasonal baseline of each service's requests " +
		"tuned by AD_HTTP_CONNECTION_SPIKE_SENSITIVITY, it has no isolation forest",
	"AD_DETECTION_VERIFY_MODEL_EXISTENCE": "a detector without a saved model always learns from history first (--train.lookback) and raises nothing until it is ready",
	"AD_USE_INTERNAL_SCHEDULER":           "the exporter always schedules its own runs, one per window",
	"AD_train_default_query_time_duration": "models learn from every window as it closes, and from --train.lookback of history " +
		"when they start without a saved model",
}

// alertsPerDaySuffix ends the names of Calico's daily caps on events
// (AD_DGA_ALERTS_PER_DAY, ...).
const alertsPerDaySuffix = "_ALERTS_PER_DAY"

const alertsPerDayReason = "alerts are bounded by each detector's score threshold and by Alertmanager's grouping " +
	"and repeat interval (an alert fires once per anomaly, not once per window); Calico's daily cap of events has no counterpart"

// noEffectReason returns why a Calico variable does nothing here, or ""
// when it is not one of those.
func noEffectReason(name string) string {
	if r, ok := calicoNoEffect[name]; ok {
		return r
	}
	if strings.HasPrefix(name, "AD_") && strings.HasSuffix(name, alertsPerDaySuffix) && len(name) > len("AD_")+len(alertsPerDaySuffix) {
		return alertsPerDayReason
	}
	return ""
}

// isCalicoOnlyVar reports whether name is one of Calico's variables that
// ReadEnv reads besides Vars and the detectors' own.
func isCalicoOnlyVar(name string) bool {
	_, alias := calicoAliases[name]
	return alias || noEffectReason(name) != ""
}

// readCalicoOnlyEnv reads the aliases into e.Params (checked as the
// setting they stand for) and notes every set variable that has no
// effect in e.Warnings.
func readCalicoOnlyEnv(get func(string) (string, bool), e *Env) []error {
	var errs []error
	for _, info := range detect.Registered() {
		for _, p := range info.Params {
			for name, a := range calicoAliases {
				if a.detector != info.Name || a.key != p.Key {
					continue
				}
				v, ok := get(name)
				if !ok {
					continue
				}
				if err := checkParam(info, p, v); err != nil {
					errs = append(errs, fmt.Errorf("%s=%q: %v", name, v, err))
					continue
				}
				if e.Params[info.Name] == nil {
					e.Params[info.Name] = map[string]string{}
				}
				if e.ParamFrom[info.Name] == nil {
					e.ParamFrom[info.Name] = map[string]string{}
				}
				e.Params[info.Name][p.Key] = v
				e.ParamFrom[info.Name][p.Key] = name
			}
		}
	}
	for _, name := range sortedSetNames(get) {
		if r := noEffectReason(name); r != "" {
			v, _ := get(name)
			e.Warnings = append(e.Warnings, fmt.Sprintf("%s=%q has no effect here: %s", name, v, r))
		}
	}
	return errs
}

// sortedSetNames lists, sorted, the no-effect variables that are set: the
// named ones, and AD_<DETECTOR>_ALERTS_PER_DAY for every detector id
// (other names of that pattern are still not reported as misspelt by
// UnknownEnv).
func sortedSetNames(get func(string) (string, bool)) []string {
	names := make([]string, 0, len(calicoNoEffect))
	for name := range calicoNoEffect {
		names = append(names, name)
	}
	for _, info := range detect.Registered() {
		names = append(names, "AD_"+strings.ToUpper(info.Name)+alertsPerDaySuffix)
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		if _, ok := get(name); ok {
			out = append(out, name)
		}
	}
	return out
}
