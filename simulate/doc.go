// Package simulate owns the built-in simulated Calico cluster: deterministic
// traffic and labelled attack scenarios.
//
// Every random choice comes from a PCG generator seeded from the cluster's
// seed and the start of the bucket being generated, so any window can be
// generated alone, in any order, and the same seed always gives the same
// records byte for byte.
package simulate
