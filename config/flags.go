package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// Flags are the configuration's command-line flags: one per global
// setting (globals), bound straight to the typed fields of a Config; one
// --detector.<name> / --no-detector.<name> per registered detector, as
// node_exporter makes --collector.<name>; the configuration files; and
// --config.check. Which flags the user gave comes from kingpin
// (IsSetByUser); Load merges them with Calico's environment and the
// files.
type Flags struct {
	app *kingpin.Application
	// given holds the global settings' flags: their defaults, or what
	// the command line gave.
	given     Config
	detectors map[string]*bool
	setByUser map[string]*bool
	// ConfigFile is --config.file, our own YAML; "" for none.
	ConfigFile string
	// AlertFiles are --detectors.config, Calico GlobalAlert files.
	AlertFiles []string
	// Check is --config.check: validate and exit.
	Check bool
}

// AddFlags adds the configuration's flags to app.
func AddFlags(app *kingpin.Application) *Flags {
	f := &Flags{app: app, detectors: map[string]*bool{}, setByUser: map[string]*bool{}}
	for _, g := range globals {
		if g.flag == "" || g.external {
			continue
		}
		clause := app.Flag(g.flag, g.help)
		if g.def != "" {
			clause.Default(g.def)
		}
		clause.SetValue(namedValue(g.flag, g.field(&f.given)))
	}
	for _, info := range detect.Registered() {
		on := new(bool)
		f.detectors[info.Name] = on
		app.Flag(detectorFlagPrefix+detect.FlagName(info.Name), fmt.Sprintf("Enable the %s detector: %s", info.Name, info.Help)).
			Default(strconv.FormatBool(info.DefaultEnabled)).BoolVar(on)
	}
	app.Flag("detectors.config", "A YAML file of Calico GlobalAlert resources (one or many documents, as kubectl takes them, e.g. ad-alerts.yaml): each AnomalyDetection alert enables its detector with its severity, summary and description; repeatable.").StringsVar(&f.AlertFiles)
	app.Flag("config.file", "Our own YAML configuration for what Calico had no knob for: per-detector settings and score thresholds, silences, series bounds, index layout and tenant (docs/configuration.md).").Default("").StringVar(&f.ConfigFile)
	app.Flag("config.check", "Check the configuration (flags, Calico's environment, --config.file and --detectors.config), print it, and exit: 0 when it is valid, 1 with the errors (each naming its file:line or variable) when not.").BoolVar(&f.Check)
	return f
}

// Parse parses args with the application, noting which flags the user
// gave, and returns the command chosen.
func (f *Flags) Parse(args []string) (string, error) {
	for _, m := range f.app.Model().Flags {
		set := new(bool)
		f.setByUser[m.Name] = set
		f.app.GetFlag(m.Name).IsSetByUser(set)
	}
	return f.app.Parse(args)
}

// SetByUser reports whether flag --name was given on the command line
// (not its default).
func (f *Flags) SetByUser(name string) bool {
	set, ok := f.setByUser[name]
	return ok && *set
}

// Given returns the flags given on the command line, by name, with their
// values as text, as Sources.Flags takes them: a negated boolean
// (--no-detector.port-scan) gives "false" under the flag's own name, a
// repeated flag's values are joined with commas.
func (f *Flags) Given() map[string]string {
	out := map[string]string{}
	for _, m := range f.app.Model().Flags {
		if !f.SetByUser(m.Name) {
			continue
		}
		if g, ok := globalOfFlag(m.Name); ok && !g.external {
			out[m.Name] = g.field(&f.given).String()
			continue
		}
		out[m.Name] = flagText(m.Value)
	}
	return out
}

// flagText is a flag's value as text, a list's joined with commas.
func flagText(v kingpin.Value) string {
	if g, ok := v.(kingpin.Getter); ok {
		if list, ok := g.Get().([]string); ok {
			return strings.Join(list, flagListSeparator)
		}
	}
	return v.String()
}

// Load reads Calico's environment through getenv (usually os.Getenv) and
// the configuration files, and merges them with the flags into the
// effective configuration. Each call reads them afresh: a reload is a
// Load.
func (f *Flags) Load(getenv func(string) string) (*Config, error) {
	env, err := ReadEnv(getenv)
	if err != nil {
		return nil, err
	}
	var file *File
	if f.ConfigFile != "" {
		if file, err = LoadFile(f.ConfigFile); err != nil {
			return nil, err
		}
	}
	var alerts *GlobalAlerts
	if len(f.AlertFiles) > 0 {
		if alerts, err = LoadGlobalAlerts(f.AlertFiles...); err != nil {
			return nil, err
		}
	}
	return Resolve(Sources{Env: env, File: file, Alerts: alerts, Flags: f.Given()})
}

// flagNamed is a setting's value bound to its flag: its errors name the
// flag and the value given.
type flagNamed struct {
	name string
	value
}

func (v flagNamed) Set(s string) error {
	if err := v.value.Set(s); err != nil {
		return fmt.Errorf("--%s=%s: %w", v.name, s, err)
	}
	return nil
}

// cumulativeFlag is a list setting's flag: repeatable.
type cumulativeFlag struct{ flagNamed }

func (cumulativeFlag) IsCumulative() bool { return true }

func namedValue(name string, v value) kingpin.Value {
	if _, ok := v.(interface{ IsCumulative() bool }); ok {
		return cumulativeFlag{flagNamed{name, v}}
	}
	return flagNamed{name, v}
}
