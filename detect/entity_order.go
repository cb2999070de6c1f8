package detect

import "strings"

// entityLess orders entities by cluster, namespace, workload and type
// without building their keys, for the stable order of verdicts and saved
// models.
func entityLess(a, b Entity) bool {
	if c := strings.Compare(a.Cluster, b.Cluster); c != 0 {
		return c < 0
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c < 0
	}
	if c := strings.Compare(a.Workload, b.Workload); c != 0 {
		return c < 0
	}
	return a.Type < b.Type
}
