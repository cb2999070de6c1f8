// Package dashboards owns the Grafana dashboards shipped with the exporter,
// embedded so tests and tools can read them.
package dashboards

import "embed"

// Files holds every dashboard JSON file.
//
//go:embed *.json
var Files embed.FS
