package main

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
)

// runningSettings is what the exporter was started with, gathered where
// the engine, the detectors and the alert policy are built: /config lists
// these, not what the files say now.
type runningSettings struct {
	app   *kingpin.Application
	flags *config.Flags
	// start is the configuration resolved at start: the detectors and
	// their settings, which only a restart changes.
	start *config.Config
	// engine and build are what the (last) engine and its detectors were
	// given.
	engine    engine.Config
	build     engine.BuildOptions
	detectors []detect.Detector
	// policy is the alert policy in force; a reload replaces it.
	policy *notify.LivePolicy
}

// settingInForce is one line of /config.
type settingInForce struct {
	Name, Value, Origin string
}

// flagsNotSettings are kingpin's own flags.
var flagsNotSettings = map[string]bool{"help": true, "help-long": true, "help-man": true, "version": true,
	"completion-bash": true, "completion-script-bash": true, "completion-script-zsh": true}

// calicoUnused are Calico settings of its raw-document reader, accepted
// and not used: the exporter aggregates in Elasticsearch instead.
var calicoUnused = []string{config.SettingMaxDocs, config.SettingQuerySize, config.SettingScrollTime}

const notAppliedRaw = "accepted, not used: the exporter aggregates in Elasticsearch instead of paging raw documents"

// list returns every setting in force with its origin: each flag as the
// exporter holds it (after Calico's environment and the files filled it
// in), then each detector's, with live (the configuration after the last
// reload) for what a reload changes at once (alert severities, score
// thresholds, texts, silences) and the start configuration for what only
// a restart changes (detectors and their settings), noting the difference.
func (r *runningSettings) list(live *config.Config) []settingInForce {
	pol := r.policy.Get()
	var out []settingInForce
	flagOrigin := map[string]string{}
	for _, f := range r.app.Model().Flags {
		if f.Hidden || flagsNotSettings[f.Name] || strings.HasPrefix(f.Name, "detector.") || strings.HasPrefix(f.Name, "no-detector.") {
			continue
		}
		origin := r.flagOrigin(f, live)
		flagOrigin[f.Name] = origin
		line := settingInForce{"--" + f.Name, r.flagValue(f, pol, live), origin}
		if src := flagValueString(r.app, "source"); f.Name == "events.enabled" && line.Value == "true" && src != "elasticsearch" {
			line.Value = "false"
			line.Origin += " (the " + src + " source has no Calico events index)"
		}
		out = append(out, line)
	}
	if s, ok := r.start.Setting(config.SettingElasticPassword); ok && s.Origin != "default" {
		origin := s.Origin
		if r.start.Elasticsearch.PasswordFile != "" {
			origin += " (not used: --es.password-file wins)"
		}
		out = append(out, settingInForce{config.SettingElasticPassword, "<secret>", origin})
	}
	for _, name := range calicoUnused {
		if s, ok := r.start.Setting(name); ok && s.Origin != "default" {
			out = append(out, settingInForce{name, s.Value, s.Origin + " (" + notAppliedRaw + ")"})
		}
	}
	built := map[string]bool{}
	for _, d := range r.detectors {
		built[d.Name()] = true
	}
	for _, info := range detect.Registered() {
		name := info.Name
		key := func(k string) string { return config.DetectorSetting(name, k) }
		enabled := settingInForce{key("enabled"), strconv.FormatBool(built[name]), originOf(r.start, key("enabled"))}
		out = append(out, pending(enabled, r.start, live))
		// A detector runs once its period (a GlobalAlert's spec.period,
		// in whole buckets) as the engine schedules it, else every
		// search interval.
		period := settingInForce{key("period"), r.engine.Interval.String(), flagOrigin["search.interval"]}
		if p, ok := r.engine.Periods[name]; ok && p > 0 {
			period.Value, period.Origin = p.String(), originOf(r.start, key("period"))
		}
		out = append(out, period)
		sev := settingInForce{key("severity"), strconv.Itoa(pol.SeverityOf(name)), flagOrigin["alert.severity"]}
		if _, own := pol.DetectorSeverity[name]; own {
			sev.Origin = originOf(live, key("severity"))
		} else if pol.SeverityByFamily {
			sev.Origin += fmt.Sprintf(" (events; alert labels follow the %s family and the score)", info.Family)
		}
		out = append(out, sev)
		if v, ok := pol.DetectorMinScore[name]; ok {
			out = append(out, settingInForce{key("score_threshold"), strconv.FormatFloat(v, 'g', -1, 64), originOf(live, key("score_threshold"))})
		}
		if t, ok := pol.Texts[name]; ok {
			if t.Summary != "" {
				out = append(out, settingInForce{key("summary"), t.Summary, originOf(live, key("summary"))})
			}
			if t.Description != "" {
				out = append(out, settingInForce{key("description"), t.Description, originOf(live, key("description"))})
			}
		}
		params := make([]string, 0, len(info.Params))
		for _, p := range info.Params {
			params = append(params, p.Key)
		}
		sort.Strings(params)
		for _, p := range params {
			s, ok := r.start.Setting(key(p))
			if !ok {
				continue
			}
			out = append(out, pending(settingInForce{s.Name, s.Value, s.Origin}, r.start, live))
		}
	}
	if s, ok := live.Setting(config.SettingSilences); ok {
		out = append(out, settingInForce{s.Name, s.Value, s.Origin})
	}
	return out
}

// pending notes on s a value the files now give that takes effect only
// at the next restart.
func pending(s settingInForce, start, live *config.Config) settingInForce {
	was, _ := start.Setting(s.Name)
	now, ok := live.Setting(s.Name)
	if ok && (now.Value != was.Value || now.Origin != was.Origin) {
		s.Origin += fmt.Sprintf(" (reloaded files give %s from %s: takes effect at the next restart)", displayed(now.Value), now.Origin)
	}
	return s
}

func originOf(c *config.Config, name string) string {
	if s, ok := c.Setting(name); ok {
		return s.Origin
	}
	return "default"
}

// flagOrigin is where a flag's value in force came from: the command
// line, Calico's environment or the files (through the configuration),
// or its default.
func (r *runningSettings) flagOrigin(f *kingpin.FlagModel, live *config.Config) string {
	if r.flags.SetByUser(f.Name) {
		return "flag --" + f.Name
	}
	if setting, ok := config.SettingOfFlag(f.Name); ok {
		if s, ok := r.configOf(f.Name, live).Setting(setting); ok {
			return s.Origin
		}
	}
	return "default"
}

// configOf is the configuration that holds flag --name's value in force:
// the one loaded at start, or the one after the last reload for the
// alert severity, which a reload changes at once.
func (r *runningSettings) configOf(name string, live *config.Config) *config.Config {
	if name == "alert.severity" {
		return live
	}
	return r.start
}

// flagValue is a flag's value as the exporter holds it: the
// configuration's for the flags it owns, the flag's for the others.
func (r *runningSettings) flagValue(f *kingpin.FlagModel, pol notify.Policy, live *config.Config) string {
	if f.Name == "alert.severity" { // the policy holds it, reloads included
		return strconv.Itoa(pol.Severity)
	}
	v := valueString(f.Value)
	if s, ok := r.configOf(f.Name, live).FlagSetting(f.Name); ok {
		v = s.Value
	}
	if secretFlagName(f.Name) && v != "" {
		return "<secret>"
	}
	return v
}

func flagValueString(app *kingpin.Application, name string) string {
	for _, f := range app.Model().Flags {
		if f.Name == name {
			return valueString(f.Value)
		}
	}
	return ""
}

func valueString(v kingpin.Value) string {
	if g, ok := v.(kingpin.Getter); ok {
		if list, ok := g.Get().([]string); ok {
			return strings.Join(list, ",")
		}
	}
	return v.String()
}

// secretFlagName reports a flag that holds a secret itself (not a file
// naming one).
func secretFlagName(name string) bool {
	if strings.HasSuffix(name, "-file") || strings.HasSuffix(name, ".file") {
		return false
	}
	return slices.ContainsFunc([]string{"password", "token", "api-key", "secret"}, func(s string) bool { return strings.Contains(name, s) })
}

func displayed(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\n\"") {
		return strconv.Quote(v)
	}
	return v
}

// text renders the settings one per line, aligned: name, value, origin,
// then the configuration's warnings.
func inForceText(settings []settingInForce, warnings []string) string {
	wName, wValue := 0, 0
	for _, s := range settings {
		wName = max(wName, len(s.Name))
		wValue = max(wValue, min(len(displayed(s.Value)), 40))
	}
	var sb strings.Builder
	for _, s := range settings {
		fmt.Fprintf(&sb, "%-*s  %-*s  %s\n", wName, s.Name, wValue, displayed(s.Value), s.Origin)
	}
	if len(warnings) > 0 {
		sb.WriteString("\nwarnings:\n")
		for _, w := range warnings {
			fmt.Fprintf(&sb, "  - %s\n", w)
		}
	}
	return sb.String()
}
