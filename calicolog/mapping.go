package calicolog

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

//go:embed mappings/*.json
var mappings embed.FS

// MappingKinds are the kinds of index a mapping exists for.
var MappingKinds = []string{"flows", "dns", "l7", "events"}

// Mapping returns the index mapping of kind (flows, dns, l7 or events),
// mirroring Calico's own: dynamic false, epoch-second times for flows and
// L7, RFC 3339 times for DNS, nested labels, policies, servers and rrsets,
// IPs with a null value of 0.0.0.0 and ports of 0. Normalizers and the
// flattened type are left out: the stripped test node lacks them, and
// queries compare keywords exactly as the exporter writes them.
func Mapping(kind string) ([]byte, error) {
	b, err := mappings.ReadFile("mappings/" + kind + ".json")
	if err != nil {
		return nil, fmt.Errorf("no mapping for %q (want one of %s)", kind, strings.Join(MappingKinds, ", "))
	}
	return b, nil
}

// IndexTemplate returns a composable index template body for kind that
// covers n's indices. Malformed values are kept in _source and listed in
// the _ignored field instead of rejecting the document, so a reader can
// count and skip them.
func IndexTemplate(n IndexNaming, kind string) ([]byte, error) {
	m, err := Mapping(kind)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"index_patterns": []string{n.TemplatePattern(kind)},
		"priority":       500,
		"template": map[string]any{
			"settings": map[string]any{
				"number_of_shards":               1,
				"number_of_replicas":             0,
				"index.mapping.ignore_malformed": true,
			},
			"mappings": json.RawMessage(m),
		},
	})
}

// NullValue is what the index holds for field of log type t when a
// document carries an explicit null there (the mapping's null_value: IPs
// read 0.0.0.0, ports 0), so that an in-memory source counts and groups
// what Elasticsearch does. ok is false for fields without one.
func NullValue(t LogType, field string) (v Value, ok bool) {
	f, ok := mappedFields()[t][field]
	if !ok || !f.hasNull {
		return Value{}, false
	}
	return f.null, true
}

// MappedType is the Elasticsearch type of the top-level field of log type
// t in its mapping (keyword, long, ip, date, nested, alias, ...), or ""
// when the mapping does not have it.
func MappedType(t LogType, field string) string {
	return mappedFields()[t][field].typ
}

type mappedField struct {
	typ     string
	null    Value
	hasNull bool
}

// mappedFields reads the type and null_value of every top-level field of
// the embedded log mappings, once.
var mappedFields = sync.OnceValue(func() map[LogType]map[string]mappedField {
	out := map[LogType]map[string]mappedField{}
	for _, t := range LogTypes {
		b, err := Mapping(string(t))
		if err != nil {
			panic(err) // the mappings are embedded: a test catches this
		}
		var m struct {
			Properties map[string]struct {
				Type      string `json:"type"`
				NullValue any    `json:"null_value"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("mapping %s: %v", t, err))
		}
		byField := map[string]mappedField{}
		for name, p := range m.Properties {
			f := mappedField{typ: p.Type}
			if f.typ == "" {
				f.typ = "object"
			}
			switch nv := p.NullValue.(type) {
			case string:
				f.null, f.hasNull = StringValue(nv), true
			case float64:
				f.null, f.hasNull = NumberValue(nv), true
			}
			byField[name] = f
		}
		out[t] = byField
	}
	return out
})
