package config

import (
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// File is the exporter's own configuration file (--config.file): what
// Calico had no knob for. Every field is optional; what is not given
// leaves the environment's value or the default.
type File struct {
	Path string
	// Globals are the exporter-wide settings the file gives (those with
	// a file key in globals: clusters, elasticsearch.index_layout,
	// elasticsearch.tenant, metrics.max_series_per_detector), by setting
	// name, as text their flag would take; a list's items joined with
	// commas.
	Globals map[string]string
	// Detectors are per-detector settings by detector id.
	Detectors map[string]DetectorFile
	// Silences mute verdicts of matching entities.
	Silences []Silence
	// Pos is where each setting was given, by setting name (see
	// Settings), for the origin of effective settings.
	Pos map[string]Position
}

// DetectorFile is one detector's section of the configuration file.
type DetectorFile struct {
	// Enabled turns the detector on or off; nil when not given.
	Enabled *bool
	// Severity 1..100 written on the detector's events; 0 when not given.
	Severity int
	// Period is how often the detector runs; 0 when not given.
	Period time.Duration
	// ScoreThreshold, in (0, 1], is the score at or above which the
	// detector's verdicts alert, instead of the detector's own threshold;
	// 0 when not given.
	ScoreThreshold float64
	// Settings are the detector's own settings by detect.Param.Key, each
	// checked by the detector.
	Settings map[string]string
}

// Silence mutes the verdicts of the entities it matches until an end time.
// Detector, Namespace and Workload are shell globs (path.Match: *, ?,
// [a-z]); an empty one matches anything.
type Silence struct {
	Detector  string
	Namespace string
	Workload  string
	// Until is when the silence ends; zero for never.
	Until   time.Time
	Comment string
	Pos     Position
}

// Matches reports whether the silence mutes detector's verdict on the
// entity at time now.
func (s Silence) Matches(detector, namespace, workload string, now time.Time) bool {
	if !s.Until.IsZero() && !now.Before(s.Until) {
		return false
	}
	return globMatch(s.Detector, detector) && globMatch(s.Namespace, namespace) && globMatch(s.Workload, workload)
}

func globMatch(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, err := path.Match(pattern, s)
	return ok && err == nil
}

// Detector section keys that are not detector settings; no detector may
// have a setting of these names.
const (
	keyEnabled        = "enabled"
	keySeverity       = "severity"
	keyPeriod         = "period"
	keyScoreThreshold = "score_threshold"
	keySettings       = "settings"
	keyDescription    = "description"
	keySummary        = "summary"
)

// LoadFile reads and parses the configuration file at path.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configuration file: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile parses a configuration file, named file in messages. It is
// strict: unknown keys, wrong types, unknown detectors and settings, and
// values a detector refuses are errors at their file:line:column.
func ParseFile(file string, data []byte) (*File, error) {
	r := &nodeReader{file: file}
	f := &File{Path: file, Globals: map[string]string{}, Detectors: map[string]DetectorFile{}, Pos: map[string]Position{}}
	docs := r.documents(data)
	if len(docs) > 1 {
		r.errorf(docs[1], "a configuration file holds one YAML document, this is the second")
	}
	if len(docs) > 0 {
		r.file1(docs[0], f)
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	return f, nil
}

func (r *nodeReader) file1(n *yaml.Node, f *File) {
	fields := []field{
		{"detectors", func(_, v *yaml.Node) {
			keys, values := r.entries(v, "detectors")
			for i, k := range keys {
				r.detectorSection(k, values[i], f)
			}
		}},
		{"silences", func(_, v *yaml.Node) {
			for i, item := range r.sequence(v, "silences") {
				r.silence(item, fmt.Sprintf("silences[%d]", i), f)
			}
		}},
	}
	// The global settings' keys, top-level or in their section, as
	// globals gives them.
	sections := map[string][]field{}
	var order []string
	for _, g := range globals {
		if g.file == "" {
			continue
		}
		section, key, nested := strings.Cut(g.file, ".")
		if !nested {
			fields = append(fields, field{g.file, func(_, v *yaml.Node) { r.global(v, g, f) }})
			continue
		}
		if _, ok := sections[section]; !ok {
			order = append(order, section)
		}
		sections[section] = append(sections[section], field{key, func(_, v *yaml.Node) { r.global(v, g, f) }})
	}
	for _, section := range order {
		fields = append(fields, field{section, func(_, v *yaml.Node) { r.mapping(v, section, sections[section]) }})
	}
	r.mapping(n, "configuration", fields)
}

// global reads global setting g from its key's value v: a scalar, or a
// list of them for a list setting, each checked by the setting's own
// parser.
func (r *nodeReader) global(v *yaml.Node, g global, f *File) {
	var scratch Config
	val := g.field(&scratch)
	if _, list := val.(*listValue); list {
		items := r.sequence(v, g.file)
		if v.Kind == yaml.SequenceNode && len(items) == 0 {
			r.errorf(v, "%s: the list is empty: leave it out for %s", g.file, g.flagOrDefault())
			return
		}
		seen := map[string]bool{}
		var texts []string
		for i, item := range items {
			p := fmt.Sprintf("%s[%d]", g.file, i)
			s, ok := r.str(item, p)
			if !ok {
				continue
			}
			if err := g.field(&Config{}).Set(s); err != nil {
				r.errorf(item, "%s: %v, got %q", p, err, s)
				continue
			}
			if seen[s] {
				r.errorf(item, "%s: %q is listed twice", p, s)
				continue
			}
			seen[s] = true
			texts = append(texts, s)
		}
		if len(texts) == len(items) && len(texts) > 0 {
			f.Globals[g.name] = strings.Join(texts, flagListSeparator)
			f.Pos[g.name] = r.pos(v)
		}
		return
	}
	s, ok := r.scalar(v, g.file)
	if !ok {
		return
	}
	if err := val.Set(s); err != nil {
		r.errorf(v, "%s: %v, got %q", g.file, err, s)
		return
	}
	f.Globals[g.name] = s
	f.Pos[g.name] = r.pos(v)
}

func (r *nodeReader) detectorSection(k, v *yaml.Node, f *File) {
	id := normalDetector(k.Value)
	info, ok := detect.Lookup(id)
	if !ok {
		if isCalicoDetector(id) {
			r.errorf(k, "detectors: detector %q is not available in this build (available: %s)", k.Value, strings.Join(registeredNames(), ","))
		} else {
			r.errorf(k, "detectors: unknown detector %q (known: %s)", k.Value, strings.Join(registeredNames(), ","))
		}
		return
	}
	if _, dup := f.Detectors[id]; dup {
		r.errorf(k, "detectors: detector %s is given twice (as %q here)", id, k.Value)
		return
	}
	p := "detectors." + k.Value
	d := DetectorFile{}
	at := func(key string, v *yaml.Node) { f.Pos[DetectorSetting(id, key)] = r.pos(v) }
	r.mapping(v, p, []field{
		{keyEnabled, func(_, v *yaml.Node) {
			if b, ok := r.boolean(v, p+"."+keyEnabled); ok {
				d.Enabled = &b
				at(keyEnabled, v)
			}
		}},
		{keySeverity, func(_, v *yaml.Node) {
			if s, ok := r.integer(v, p+"."+keySeverity, minSeverity, maxSeverity); ok {
				d.Severity = int(s)
				at(keySeverity, v)
			}
		}},
		{keyPeriod, func(_, v *yaml.Node) {
			if period, ok := r.duration(v, p+"."+keyPeriod); ok {
				d.Period = period
				at(keyPeriod, v)
			}
		}},
		{keyScoreThreshold, func(_, v *yaml.Node) {
			if t, ok := r.number(v, p+"."+keyScoreThreshold, 0, 1); ok {
				if t == 0 {
					r.errorf(v, "%s.%s: 0 would alert on every verdict: want a score above 0 and at most 1", p, keyScoreThreshold)
					return
				}
				d.ScoreThreshold = t
				at(keyScoreThreshold, v)
			}
		}},
		{keySettings, func(_, v *yaml.Node) {
			d.Settings = r.settings(v, p+"."+keySettings, info, f)
		}},
	})
	f.Detectors[id] = d
}

// settings reads a detector's own settings, each checked by its type and
// by the detector itself.
func (r *nodeReader) settings(n *yaml.Node, p string, info detect.Info, f *File) map[string]string {
	out := map[string]string{}
	fields := make([]field, 0, len(info.Params))
	for _, param := range info.Params {
		fields = append(fields, field{param.Key, func(_, v *yaml.Node) {
			vp := p + "." + param.Key
			var value string
			if v.Kind == yaml.SequenceNode {
				// A list setting (fields) may be written as a YAML list.
				var items []string
				for i, item := range v.Content {
					s, ok := r.scalar(item, fmt.Sprintf("%s[%d]", vp, i))
					if !ok {
						return
					}
					items = append(items, s)
				}
				value = strings.Join(items, ",")
			} else {
				s, ok := r.scalar(v, vp)
				if !ok {
					return
				}
				value = s
			}
			if err := checkParam(info, param, value); err != nil {
				r.errorf(v, "%s: %v, got %q", vp, err, value)
				return
			}
			out[param.Key] = value
			f.Pos[DetectorSetting(info.Name, param.Key)] = r.pos(v)
		}})
	}
	if len(fields) == 0 {
		if !r.plain(n, p) {
			return out
		}
		if n.Kind != yaml.MappingNode || len(n.Content) > 0 {
			r.errorf(n, "%s: detector %s has no settings", p, info.Name)
		}
		return out
	}
	r.mapping(n, p, fields)
	return out
}

func (r *nodeReader) silence(n *yaml.Node, p string, f *File) {
	s := Silence{Pos: r.pos(n)}
	before := len(r.errs)
	glob := func(key string, dst *string, check func(string) error) field {
		return field{key, func(_, v *yaml.Node) {
			g, ok := r.str(v, p+"."+key)
			if !ok {
				return
			}
			if _, err := path.Match(g, ""); err != nil {
				r.errorf(v, "%s.%s: %q is not a valid glob (*, ?, [a-z]): %v", p, key, g, err)
				return
			}
			if check != nil {
				if err := check(g); err != nil {
					r.errorf(v, "%s.%s: %v", p, key, err)
					return
				}
			}
			*dst = g
		}}
	}
	if !r.mapping(n, p, []field{
		glob("detector", &s.Detector, func(g string) error {
			for _, name := range registeredNames() {
				if ok, _ := path.Match(normalDetector(g), name); ok {
					return nil
				}
			}
			return fmt.Errorf("%q matches no detector (known: %s)", g, strings.Join(registeredNames(), ","))
		}),
		glob("namespace", &s.Namespace, nil),
		glob("workload", &s.Workload, nil),
		{"until", func(_, v *yaml.Node) { s.Until, _ = r.timestamp(v, p+".until") }},
		{"comment", func(_, v *yaml.Node) { s.Comment, _ = r.str(v, p+".comment") }},
	}) {
		return
	}
	if len(r.errs) != before {
		return
	}
	s.Detector = normalDetector(s.Detector)
	if s.Detector == "" && s.Namespace == "" && s.Workload == "" {
		r.errorf(n, "%s: a silence needs at least one of detector, namespace or workload (write \"*\" to silence everything)", p)
		return
	}
	f.Silences = append(f.Silences, s)
}
