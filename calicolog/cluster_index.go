package calicolog

import (
	"fmt"
	"path"
	"strings"
)

// ValidateClusterPattern checks a glob of cluster names used to discover
// clusters: lowercase letters, digits and what else a cluster name may hold,
// with * matching any run of characters. Elasticsearch's index expressions
// know no other wildcard, so ? and [...] are refused, as are a comma or a
// leading - (which would add or remove indices from the expression).
func ValidateClusterPattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("cluster pattern is empty (use * for every cluster)")
	}
	if strings.HasPrefix(pattern, "-") || strings.HasPrefix(pattern, "+") {
		return fmt.Errorf("cluster pattern %q cannot start with %q", pattern, pattern[:1])
	}
	if strings.ContainsAny(pattern, ` ,?"<>|\/#:[]`) || pattern != strings.ToLower(pattern) {
		return fmt.Errorf("cluster pattern %q: want a lowercase cluster name where * matches any characters (no spaces or ,?\"<>|\\/#:[])", pattern)
	}
	return nil
}

// MatchClusterPattern reports whether cluster matches the glob pattern (see
// ValidateClusterPattern); * matches any run of characters, dots included.
func MatchClusterPattern(pattern, cluster string) bool {
	// path.Match's * stops at "/", which neither holds.
	ok, err := path.Match(pattern, cluster)
	return err == nil && ok
}

// LegacyIndexPattern is the index expression matching the legacy-layout
// indices of log type t of every cluster matching the glob pattern, for
// tenant (empty for none): tigera_secure_ee_<type>.[<tenant>.]<pattern>.*
func LegacyIndexPattern(t LogType, tenant, pattern string) string {
	return IndexNaming{Layout: LayoutLegacy, Cluster: pattern, Tenant: tenant}.SearchIndex(t)
}

// LegacyClusterOfIndex returns the cluster whose logs of type t the
// legacy-layout index, alias or data stream named index holds, for tenant
// (empty for none): the part of tigera_secure_ee_<type>.[<tenant>.]<cluster>.<suffix>
// before the suffix. Calico's suffixes are recognised so a cluster name
// holding dots is kept whole: a day (fluentd.20260101, 20260101), a
// rollover counter (linseed-000001, fluentd-000001), or nothing (the write
// alias, tigera_secure_ee_flows.<cluster>.). Any other suffix is taken to
// be the last dot-separated part. It returns false for an index of another
// log type or tenant, or one with no cluster.
func LegacyClusterOfIndex(t LogType, tenant, index string) (string, bool) {
	if stream, ok := strings.CutPrefix(index, ".ds-"); ok {
		index = dataStreamOf(stream)
	}
	prefix := "tigera_secure_ee_" + string(t) + "."
	if tenant != "" {
		prefix += tenant + "."
	}
	rest, ok := strings.CutPrefix(index, prefix)
	if !ok || rest == "" {
		return "", false
	}
	var cluster string
	switch {
	case strings.HasSuffix(rest, "."):
		cluster = strings.TrimSuffix(rest, ".")
	default:
		cluster = stripIndexSuffix(rest)
	}
	if cluster == "" || strings.HasPrefix(cluster, ".") || strings.HasSuffix(cluster, ".") || strings.ContainsAny(cluster, ` ,*?"<>|\/#:`) {
		return "", false
	}
	return cluster, true
}

// stripIndexSuffix removes Calico's suffix from "<cluster>.<suffix>".
func stripIndexSuffix(rest string) string {
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return "" // no suffix: not an index of a cluster
	}
	head, last := rest[:dot], rest[dot+1:]
	if isDigits(last) && len(last) == 8 {
		// <cluster>.fluentd.20260101 or <cluster>.20260101
		if h, ok := strings.CutSuffix(head, ".fluentd"); ok && h != "" {
			return h
		}
		if h, ok := strings.CutSuffix(head, ".linseed"); ok && h != "" {
			return h
		}
	}
	return head
}

// dataStreamOf is the data stream of a backing index name without its
// ".ds-": <stream>-<yyyy.mm.dd>-<generation>.
func dataStreamOf(backing string) string {
	i := strings.LastIndexByte(backing, '-')
	if i < 0 || !isDigits(backing[i+1:]) {
		return backing
	}
	j := strings.LastIndexByte(backing[:i], '-')
	if j < 0 {
		return backing
	}
	if day := strings.ReplaceAll(backing[j+1:i], ".", ""); len(day) == 8 && isDigits(day) {
		return backing[:j]
	}
	return backing
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
