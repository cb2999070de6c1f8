package calicolog

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
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
