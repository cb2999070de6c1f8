// Package goldmanepb is the Go code generated from goldmane.proto, the wire
// contract of Goldmane's Flows gRPC API (make generate-goldmane rewrites it).
package goldmanepb
