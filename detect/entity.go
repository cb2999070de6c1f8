package detect

import "strings"

// Entity is what Calico aggregates on and what a verdict is about. IPs,
// ports and names of peers never appear here: they are unbounded and
// attacker-controlled, so they only go into evidence.
type Entity struct {
	Cluster   string
	Namespace string // "-" when not namespaced (hosts, outside networks)
	Workload  string // Calico's name_aggr, e.g. "frontend-7d4f8b-*", or "pub"/"pvt"
	Type      string // wep, hep, ns, net
}

// Key is a stable string form of the entity, for maps and ids.
func (e Entity) Key() string {
	return e.Cluster + "/" + e.Namespace + "/" + e.Workload + "/" + e.Type
}

// ModelKey is the key of the entity's learned history, the one every
// detector learns into and judges by: Key with its workload's name
// normalised (workloadOf: frontend-7d4f8b9c5d-* → frontend), so the new
// ReplicaSet of a rollout keeps what its Deployment usually does instead
// of starting blind. A workload of another name, a rogue pod, starts with
// no history.
func (e Entity) ModelKey() string {
	e.Workload = workloadOf(e.Workload)
	return e.Key()
}

// workloadOf strips the "-*" Calico appends to aggregated pod names and
// the pod-template hash before it (frontend-7d4f8b9c5d-* → frontend), or
// the scheduled time a CronJob appends to its Jobs' names
// (backup-29418240-* → backup), so each run shares one history.
func workloadOf(nameAggr string) string {
	base, ok := strings.CutSuffix(nameAggr, "-*")
	if !ok {
		return nameAggr
	}
	i := strings.LastIndexByte(base, '-')
	if i <= 0 || !isPodTemplateHash(base[i+1:]) && !isCronJobTime(base[i+1:]) {
		return base
	}
	return base[:i]
}

// isCronJobTime reports whether s looks like the scheduled time, in Unix
// minutes, that a CronJob appends to the Jobs it creates.
func isCronJobTime(s string) bool {
	if len(s) < 8 || len(s) > 10 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isPodTemplateHash reports whether s looks like a ReplicaSet's
// pod-template hash: 6 to 10 characters of Kubernetes' safe alphabet (no
// vowels, no look-alike digits).
func isPodTemplateHash(s string) bool {
	if len(s) < 6 || len(s) > 10 {
		return false
	}
	for i := range len(s) {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", rune(s[i])) {
			return false
		}
	}
	return true
}
