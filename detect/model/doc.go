// Package model owns the learned models the detectors judge against:
// seasonal baselines (hour of day, day of week) with a robust spread,
// the isolation forest, and robust univariate scoring (median and MAD).
// Models are deterministic, hold bounded memory per key, and marshal to a
// versioned binary form so they survive restarts.
package model
