package detect

import (
	"math"
	"sort"
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
	byKey := map[string]*dnsClient{}
	byName := map[string]*dnsQueried{}
	for _, r := range rows {
		if len(r.Key) != len(dnsNameKey) || len(r.Values) < 1 || r.Key[1] == "" {
			continue
		}
		ck := r.Key[0] + "\x00" + r.Key[1]
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
		q := byName[ck+"\x00"+n.FQDN]
		if q == nil {
			q = &dnsQueried{name: n, raw: r.Key[2]}
			byName[ck+"\x00"+n.FQDN] = q
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
		sort.Slice(c.names, func(i, j int) bool { return c.names[i].name.FQDN < c.names[j].name.FQDN })
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].key[0]+"\x00"+out[i].key[1] < out[j].key[0]+"\x00"+out[j].key[1]
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
