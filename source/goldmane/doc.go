// Package goldmane reads flows from Goldmane, the flow aggregator of Calico
// Open Source 3.30 and later, for clusters that have no Elasticsearch. It
// follows Goldmane's gRPC Flows.Stream (or accepts the NDJSON its emitter
// pushes), gathers the 15-second flow updates into the exporter's
// wall-clock windows in memory, and answers the flow detectors' queries
// from them through the same source.Source interface as Elasticsearch.
//
// Goldmane keys flows by name (source and destination name, namespace and
// type, destination port, protocol, reporter, action, policies) and carries
// no IPs, no process fields, and no DNS or L7 logs: Coverage says which
// fields it gives, so detectors that need the others are disabled.
package goldmane
