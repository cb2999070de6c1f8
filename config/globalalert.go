package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Calico's GlobalAlert vocabulary.
const (
	globalAlertAPIVersion   = "projectcalico.org/v3"
	globalAlertKind         = "GlobalAlert"
	globalAlertListKind     = "GlobalAlertList"
	listKind                = "List"
	listAPIVersion          = "v1"
	typeAnomalyDetection    = "AnomalyDetection"
	typeRuleBased           = "RuleBased"
	globalAlertTemplateKind = "GlobalAlertTemplate"
	// globalAlertTemplateListKind is what the API server answers for a list
	// of templates (kubectl get --raw, client libraries).
	globalAlertTemplateListKind = "GlobalAlertTemplateList"
	templateReason              = "GlobalAlertTemplate: a template the Manager UI creates a GlobalAlert from; it enables nothing"
	// minAlertPeriod is the shortest period Calico's validator accepts.
	minAlertPeriod      = time.Minute
	detectorAlertPrefix = "tigera.io.detector."
)

// GlobalAlert is one AnomalyDetection GlobalAlert resource of Calico
// 3.14–3.18: it turns its detector on, with its own severity and schedule.
type GlobalAlert struct {
	Name     string // metadata.name, e.g. tigera.io.detector.port-scan
	Detector string // the detector id, e.g. port_scan
	// Severity is spec.severity, 1..100; 0 when not given.
	Severity int
	// Period is spec.period, how often the detector runs; 0 when not given
	// (Calico's default was 15m).
	Period time.Duration
	// Lookback is spec.lookback; Calico ignored it for anomaly detection,
	// and so does the exporter.
	Lookback    time.Duration
	Description string
	Summary     string
	Pos         Position // where the resource starts
}

// IgnoredAlert is a GlobalAlert the exporter does not run: a RuleBased
// alert (Calico's own alerting on its logs), or an anomaly detector this
// build does not have.
type IgnoredAlert struct {
	Name   string
	Reason string
	Pos    Position
}

// GlobalAlerts are the GlobalAlert resources of one or more files.
type GlobalAlerts struct {
	Alerts  []GlobalAlert // in file order
	Ignored []IgnoredAlert
	Files   []string
}

// Alert returns the alert that enables detector.
func (g *GlobalAlerts) Alert(detector string) (GlobalAlert, bool) {
	if g == nil {
		return GlobalAlert{}, false
	}
	for _, a := range g.Alerts {
		if a.Detector == detector {
			return a, true
		}
	}
	return GlobalAlert{}, false
}

// LoadGlobalAlerts reads and parses GlobalAlert files; a name or detector
// given in two files is an error.
func LoadGlobalAlerts(paths ...string) (*GlobalAlerts, error) {
	out := &GlobalAlerts{}
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("GlobalAlert file: %w", err))
			continue
		}
		g, err := ParseGlobalAlerts(p, data)
		if err != nil {
			errs = append(errs, err)
		}
		if g != nil {
			errs = append(errs, out.add(g)...)
		}
	}
	return out, errors.Join(errs...)
}

// add appends g's alerts, refusing names and detectors already present.
func (g *GlobalAlerts) add(more *GlobalAlerts) []error {
	var errs []error
	for _, a := range more.Alerts {
		if err := g.clash(a.Name, a.Detector, a.Pos); err != nil {
			errs = append(errs, err)
			continue
		}
		g.Alerts = append(g.Alerts, a)
	}
	g.Ignored = append(g.Ignored, more.Ignored...)
	g.Files = append(g.Files, more.Files...)
	return errs
}

func (g *GlobalAlerts) clash(name, detector string, pos Position) error {
	for _, b := range g.Alerts {
		if b.Name == name {
			return &Error{Pos: pos, Msg: fmt.Sprintf("GlobalAlert %q is defined twice (first at %s)", name, b.Pos)}
		}
		if detector != "" && b.Detector == detector {
			return &Error{Pos: pos, Msg: fmt.Sprintf("GlobalAlert %q enables detector %s again (first by %q at %s)", name, detector, b.Name, b.Pos)}
		}
	}
	for _, b := range g.Ignored {
		if b.Name == name {
			return &Error{Pos: pos, Msg: fmt.Sprintf("GlobalAlert %q is defined twice (first at %s)", name, b.Pos)}
		}
	}
	return nil
}

// ParseGlobalAlerts parses the GlobalAlert resources of one file, named
// file in messages: one or many YAML documents, each a GlobalAlert or a
// list of them (kind List or GlobalAlertList with items), as kubectl takes
// them. AnomalyDetection alerts are returned in Alerts; RuleBased ones in
// Ignored. Every problem is reported with its file:line:column, together
// with the alerts that could be read.
func ParseGlobalAlerts(file string, data []byte) (*GlobalAlerts, error) {
	r := &nodeReader{file: file}
	out := &GlobalAlerts{Files: []string{file}}
	seen := &alertIndex{names: map[string]Position{}, detectors: map[string]seenAlert{}}
	for _, doc := range r.documents(data) {
		r.resource(doc, "", out, seen)
	}
	return out, r.err()
}

// objectMeta are the keys of a Kubernetes ObjectMeta; only name matters.
var objectMeta = []string{
	"annotations", "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp",
	"finalizers", "generateName", "generation", "labels", "managedFields", "name", "namespace",
	"ownerReferences", "resourceVersion", "selfLink", "uid",
}

// resource reads one document or list item; within names the list it is
// part of ("items[2]"), "" at the top.
func (r *nodeReader) resource(n *yaml.Node, within string, out *GlobalAlerts, seen *alertIndex) {
	path := func(p string) string {
		if within == "" {
			return p
		}
		return within + "." + p
	}
	if !r.plain(n, path("resource")) {
		return
	}
	if n.Kind != yaml.MappingNode {
		where := "document"
		if within != "" {
			where = within
		}
		r.errorf(n, "%s: want a GlobalAlert resource (a mapping with apiVersion, kind, metadata, spec), got %s", where, describe(n))
		return
	}
	var apiVersion, kind string
	var apiNode, kindNode, metaNode, specNode, itemsNode *yaml.Node
	top := []field{
		{"apiVersion", func(_, v *yaml.Node) { apiNode = v; apiVersion, _ = r.str(v, path("apiVersion")) }},
		{"kind", func(_, v *yaml.Node) { kindNode = v; kind, _ = r.str(v, path("kind")) }},
		{"metadata", func(_, v *yaml.Node) { metaNode = v }},
		{"spec", func(_, v *yaml.Node) { specNode = v }},
		{"status", nil},
		{"items", func(_, v *yaml.Node) { itemsNode = v }},
	}
	if !r.mapping(n, strings.TrimSuffix(path(""), "."), top) {
		return
	}
	where := within
	if where == "" {
		where = "document"
	}
	switch {
	case kindNode == nil:
		r.errorf(n, "%s: kind is missing: want GlobalAlert, GlobalAlertList or List", where)
		return
	case kind == listKind || kind == globalAlertListKind || kind == globalAlertTemplateListKind:
		if within != "" {
			r.errorf(kindNode, "%s: a list inside a list is not supported", path("kind"))
			return
		}
		if apiNode != nil && apiVersion != listAPIVersion && apiVersion != globalAlertAPIVersion {
			r.errorf(apiNode, "apiVersion: want %s or %s for a %s, got %q", listAPIVersion, globalAlertAPIVersion, kind, apiVersion)
		}
		if specNode != nil {
			r.errorf(specNode, "spec: a %s has items, not a spec", kind)
		}
		if itemsNode == nil {
			return // an empty list
		}
		if itemsNode.Kind == yaml.ScalarNode && itemsNode.Tag == "!!null" {
			return
		}
		for i, item := range r.sequence(itemsNode, "items") {
			r.resource(item, fmt.Sprintf("items[%d]", i), out, seen)
		}
		return
	case kind == globalAlertTemplateKind:
		// kubectl get globalalerttemplates,globalalerts -o yaml lists
		// the operator's templates beside the alerts: a template only
		// offers an alert to the Manager UI, it enables nothing.
		out.Ignored = append(out.Ignored, IgnoredAlert{Name: metadataName(metaNode), Reason: templateReason, Pos: r.pos(n)})
		return
	case kind != globalAlertKind:
		if kind != "" {
			r.errorf(kindNode, "%s: want GlobalAlert, GlobalAlertList or List, got %q", path("kind"), kind)
		}
		return
	}
	if apiNode == nil {
		r.errorf(n, "%s: apiVersion is missing: want %s", where, globalAlertAPIVersion)
	} else if apiVersion != globalAlertAPIVersion && apiVersion != "" {
		r.errorf(apiNode, "%s: want %s, got %q", path("apiVersion"), globalAlertAPIVersion, apiVersion)
	}
	if itemsNode != nil {
		r.errorf(itemsNode, "%s: a GlobalAlert has a spec, not items", path("items"))
	}
	var name string
	var nameNode *yaml.Node
	if metaNode == nil {
		r.errorf(n, "%s: metadata is missing: a GlobalAlert needs metadata.name", where)
	} else {
		fields := make([]field, 0, len(objectMeta))
		for _, k := range objectMeta {
			if k == "name" {
				fields = append(fields, field{k, func(_, v *yaml.Node) { nameNode = v; name, _ = r.str(v, path("metadata.name")) }})
			} else {
				fields = append(fields, field{k, nil})
			}
		}
		if r.mapping(metaNode, path("metadata"), fields) && nameNode == nil {
			r.errorf(metaNode, "%s: name is missing", path("metadata"))
		}
	}
	if nameNode != nil && name == "" && nameNode.Tag == "!!str" {
		r.errorf(nameNode, "%s: the name is empty", path("metadata.name"))
	}
	if name != "" {
		if first, dup := seen.names[name]; dup {
			r.errorf(nameNode, "%s: GlobalAlert %q is defined twice (first at %s)", path("metadata.name"), name, r.where(first))
		} else {
			seen.names[name] = r.pos(n)
		}
	}
	if specNode == nil {
		r.errorf(n, "%s: spec is missing", where)
		return
	}
	a := GlobalAlert{Name: name, Pos: r.pos(n)}
	before := len(r.errs)
	alertType := typeRuleBased
	var typeNode, detectorNode *yaml.Node
	spec := []field{
		{"type", func(_, v *yaml.Node) {
			typeNode = v
			if s, ok := r.str(v, path("spec.type")); ok {
				alertType = s
			}
		}},
		{"description", func(_, v *yaml.Node) { a.Description, _ = r.str(v, path("spec.description")) }},
		{"summary", func(_, v *yaml.Node) { a.Summary, _ = r.str(v, path("spec.summary")) }},
		{"severity", func(_, v *yaml.Node) {
			if s, ok := r.integer(v, path("spec.severity"), minSeverity, maxSeverity); ok {
				a.Severity = int(s)
			}
		}},
		{"period", func(_, v *yaml.Node) {
			if d, ok := r.duration(v, path("spec.period")); ok {
				if d < minAlertPeriod {
					r.errorf(v, "%s: %v is shorter than Calico accepts: want at least 1m", path("spec.period"), d)
				}
				a.Period = d
			}
		}},
		{"lookback", func(_, v *yaml.Node) { a.Lookback, _ = r.duration(v, path("spec.lookback")) }},
		{"detector", func(_, v *yaml.Node) { detectorNode = v }},
		// RuleBased alerts' own keys, accepted and not used.
		{"dataSet", nil}, {"query", nil}, {"aggregateBy", nil}, {"field", nil}, {"metric", nil},
		{"condition", nil}, {"threshold", nil}, {"substitutions", nil},
	}
	r.mapping(specNode, path("spec"), spec)
	switch alertType {
	case typeRuleBased:
		if detectorNode != nil {
			r.errorf(detectorNode, "%s: only an AnomalyDetection alert names a detector: add type: AnomalyDetection to the spec", path("spec.detector"))
			return
		}
		if len(r.errs) == before {
			out.Ignored = append(out.Ignored, IgnoredAlert{Name: name, Reason: "type RuleBased: Calico's own alerting on its logs, not anomaly detection", Pos: a.Pos})
		}
		return
	case typeAnomalyDetection:
	default:
		r.errorf(typeNode, "%s: want AnomalyDetection or RuleBased, got %q", path("spec.type"), alertType)
		return
	}
	if detectorNode == nil {
		r.errorf(specNode, "%s: detector is missing: an AnomalyDetection alert needs detector.name", path("spec"))
		return
	}
	var detNameNode *yaml.Node
	var detName string
	if detectorNode.Kind == yaml.ScalarNode {
		r.errorf(detectorNode, "%s: want a mapping such as {name: port_scan}, got %s", path("spec.detector"), describe(detectorNode))
		return
	}
	if r.mapping(detectorNode, path("spec.detector"), []field{{"name", func(_, v *yaml.Node) {
		detNameNode = v
		detName, _ = r.str(v, path("spec.detector.name"))
	}}}) && detNameNode == nil {
		r.errorf(detectorNode, "%s: name is missing", path("spec.detector"))
	}
	if detNameNode == nil || detNameNode.Tag != "!!str" {
		return
	}
	id := normalDetector(detName)
	if first, dup := seen.detectors[id]; dup {
		r.errorf(detNameNode, "%s: detector %s is enabled twice (first by %q at %s)", path("spec.detector.name"), id, first.name, r.where(first.pos))
		return
	}
	seen.detectors[id] = seenAlert{name: name, pos: r.pos(n)}
	switch {
	case isRegistered(id):
		a.Detector = id
	case isCalicoDetector(id):
		if len(r.errs) == before {
			out.Ignored = append(out.Ignored, IgnoredAlert{Name: name, Reason: fmt.Sprintf("detector %s is not available in this build", id), Pos: a.Pos})
		}
		return
	default:
		r.errorf(detNameNode, "%s: unknown detector %q (known: %s)", path("spec.detector.name"), detName, strings.Join(registeredNames(), ","))
		return
	}
	if rest, ok := strings.CutPrefix(name, detectorAlertPrefix); ok && normalDetector(rest) != id {
		r.errorf(nameNode, "%s: %q names detector %s but spec.detector.name is %s: Calico names it %s%s", path("metadata.name"), name, normalDetector(rest), id, detectorAlertPrefix, strings.ReplaceAll(id, "_", "-"))
	}
	if len(r.errs) != before {
		return
	}
	out.Alerts = append(out.Alerts, a)
}

// metadataName returns metadata.name of a resource, "" when absent.
func metadataName(meta *yaml.Node) string {
	if meta == nil || meta.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(meta.Content); i += 2 {
		if meta.Content[i].Value == "name" && meta.Content[i+1].Kind == yaml.ScalarNode {
			return meta.Content[i+1].Value
		}
	}
	return ""
}

// alertIndex is what one file has named so far, valid or not, so a second
// resource for the same name or detector is reported even when the first
// had other problems.
type alertIndex struct {
	names     map[string]Position
	detectors map[string]seenAlert
}

type seenAlert struct {
	name string
	pos  Position
}
