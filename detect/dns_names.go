package detect

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/dnsname"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// dnsNameKey groups DNS records by client entity, query name and answer
// code: what dga and dns_tunnel read of a window.
var dnsNameKey = []string{"client_namespace", "client_name_aggr", "qname", "rcode"}

// dnsNameQuery counts the queries (the records' count field) and the records
// of each client, name and answer code.
func dnsNameQuery(name string) source.Query {
	return source.Query{
		Name:    name,
		Log:     calicolog.DNS,
		GroupBy: dnsNameKey,
		Metrics: []source.Metric{
			{Name: "queries", Kind: source.Sum, Field: "count"},
			{Name: "records", Kind: source.Count},
		},
	}
}

// rcodeNXDomain is Calico's rcode of a name that does not exist.
const rcodeNXDomain = "NXDomain"

// dnsQueried is one name a client resolved in a window.
type dnsQueried struct {
	name     dnsname.Name
	raw      string  // the qname as logged, for evidence filters
	queries  float64 // all answers
	nx       float64 // NXDomain answers
	answered float64 // answers with a known rcode
}

// dnsClient is what one client entity resolved in a window.
type dnsClient struct {
	key     []string // client_namespace, client_name_aggr
	names   []*dnsQueried
	invalid int // query names that are not host names
}

// dnsClients groups a window's rows by client, in key order, parsing each
// name once; rows of the same client and name with different answer codes
// are merged.
func dnsClients(rows []source.Row) []*dnsClient {
	type clientName struct {
		client [2]string
		fqdn   string
	}
	byKey := map[[2]string]*dnsClient{}
	byName := map[clientName]*dnsQueried{}
	for _, r := range rows {
		if len(r.Key) != len(dnsNameKey) || len(r.Values) < 1 || r.Key[1] == "" {
			continue
		}
		ck := [2]string{r.Key[0], r.Key[1]}
		c := byKey[ck]
		if c == nil {
			c = &dnsClient{key: []string{r.Key[0], r.Key[1]}}
			byKey[ck] = c
		}
		n, err := dnsname.Parse(r.Key[2])
		if err != nil {
			c.invalid++
			continue
		}
		q := byName[clientName{ck, n.FQDN}]
		if q == nil {
			q = &dnsQueried{name: n, raw: r.Key[2]}
			byName[clientName{ck, n.FQDN}] = q
			c.names = append(c.names, q)
		}
		count := r.Values[0]
		if count == 0 && len(r.Values) > 1 {
			count = r.Values[1] // records without a count field
		}
		if !(count >= 0) || math.IsInf(count, 0) {
			count = 0 // a broken count weighs nothing
		}
		q.queries += count
		if r.Key[3] != "" {
			q.answered += count
		}
		if strings.EqualFold(r.Key[3], rcodeNXDomain) {
			q.nx += count
		}
	}
	out := make([]*dnsClient, 0, len(byKey))
	for _, c := range byKey {
		slices.SortFunc(c.names, func(a, b *dnsQueried) int { return strings.Compare(a.name.FQDN, b.name.FQDN) })
		out = append(out, c)
	}
	// In the order of namespace and name joined by a NUL; clients whose
	// joined keys are equal (names holding NULs) by namespace.
	slices.SortFunc(out, func(a, b *dnsClient) int {
		return cmp.Or(joinedCompare(a.key, b.key, 0), strings.Compare(a.key[0], b.key[0]))
	})
	return out
}

// dnsEvidence selects a client's records of the given names.
func dnsEvidence(key []string, qnames []string) []EvidenceQuery {
	filters := dnsClientEvidence(key)
	if len(qnames) > 0 {
		filters = append(filters, source.Term{Field: "qname", Values: qnames})
	}
	return []EvidenceQuery{{Log: string(calicolog.DNS), Filters: filters, Limit: 5}}
}
