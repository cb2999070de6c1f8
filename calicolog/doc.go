// Package calicolog owns the shape of Calico Enterprise's logs and events as
// they are stored in Elasticsearch: the flow, DNS and L7 log records, the
// events the Manager UI shows, the index names of both layouts, and the index
// mappings that mirror Calico's own.
package calicolog
