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

// dnsNameColumns are the fields dnsClients reads of dnsNameQuery's rows,
// resolved once: every detector reading names sends that query.
var dnsNameColumns = func() (c struct {
	rowColumns
	namespace, workload, qname, rcode int
}) {
	c.rowColumns = columnsOf(dnsNameQuery("dns_names"))
	c.namespace, c.workload, c.qname, c.rcode = c.col("client_namespace"), c.col("client_name_aggr"), c.col("qname"), c.col("rcode")
	return c
}()

// rcodeNXDomain is Calico's rcode of a name that does not exist.
const rcodeNXDomain = "NXDomain"

// dnsQueried is one name a client resolved in a window.
type dnsQueried struct {
	client   int // index of the client among the window's
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

// dnsWindow is the storage dnsClients groups a window's rows in, reused
// from one window to the next.
type dnsWindow struct {
	clients windowGroups[[2]string, dnsClient]
	names   windowGroups[clientName, dnsQueried]
}

// clientName is a name one client resolved.
type clientName struct {
	client [2]string
	fqdn   string
}

// dnsClients groups a window's rows by client, in key order, parsing each
// name once; rows of the same client and name with different answer codes
// are merged. The clients and names live in s until its next use.
func dnsClients(s *dnsWindow, rows []source.Row) []*dnsClient {
	s.clients.reset()
	s.names.reset()
	cols := &dnsNameColumns
	for _, r := range rows {
		if !cols.fits(r) || len(r.Values) < 1 || r.Key[cols.workload] == "" {
			continue
		}
		ck := [2]string{r.Key[cols.namespace], r.Key[cols.workload]}
		ci, fresh := s.clients.at(ck)
		if c := &s.clients.items[ci]; fresh {
			*c = dnsClient{key: append(c.key[:0], ck[0], ck[1]), names: c.names[:0]}
		}
		qname := r.Key[cols.qname]
		n, err := dnsname.Parse(qname)
		if err != nil {
			s.clients.items[ci].invalid++
			continue
		}
		q, fresh := s.names.get(clientName{ck, n.FQDN})
		if fresh {
			*q = dnsQueried{client: ci, name: n, raw: qname}
		}
		count := r.Values[0]
		if count == 0 && len(r.Values) > 1 {
			count = r.Values[1] // records without a count field
		}
		if !(count >= 0) || math.IsInf(count, 0) {
			count = 0 // a broken count weighs nothing
		}
		q.queries += count
		rcode := r.Key[cols.rcode]
		if rcode != "" {
			q.answered += count
		}
		if strings.EqualFold(rcode, rcodeNXDomain) {
			q.nx += count
		}
	}
	// The names no longer move: each client's, in order of arrival.
	for i := range s.names.items {
		q := &s.names.items[i]
		c := &s.clients.items[q.client]
		c.names = append(c.names, q)
	}
	for i := range s.clients.items {
		c := &s.clients.items[i]
		slices.SortFunc(c.names, func(a, b *dnsQueried) int { return strings.Compare(a.name.FQDN, b.name.FQDN) })
	}
	// In the order of namespace and name joined by a NUL; clients whose
	// joined keys are equal (names holding NULs) by namespace.
	return s.clients.sorted(func(a, b *dnsClient) int {
		return cmp.Or(joinedCompare(a.key, b.key, 0), strings.Compare(a.key[0], b.key[0]))
	})
}

// dnsEvidence selects a client's records of the given names: the filters
// of dnsClientEvidence and the names, in one allocation.
func dnsEvidence(key []string, qnames []string) []EvidenceQuery {
	b := &struct {
		query  [1]EvidenceQuery
		terms  [3]source.Term
		values [2]string
	}{values: [2]string{key[0], key[1]}}
	b.terms[0] = source.Term{Field: "client_namespace", Values: b.values[0:1:1]}
	b.terms[1] = source.Term{Field: "client_name_aggr", Values: b.values[1:2:2]}
	n := 2
	if len(qnames) > 0 {
		b.terms[2] = source.Term{Field: "qname", Values: qnames}
		n = 3
	}
	b.query[0] = EvidenceQuery{Log: string(calicolog.DNS), Filters: b.terms[:n:n], Limit: 5}
	return b.query[:]
}
