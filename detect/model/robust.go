package model

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// madToSigma turns a median absolute deviation into the standard deviation
// of a normal distribution with that MAD.
const madToSigma = 1.4826

// Median returns the median of x; x is sorted in place. It returns NaN for
// an empty slice.
func Median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	slices.Sort(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}

// MedianMAD returns the median of x and its median absolute deviation,
// scaled to a normal standard deviation (1.4826·MAD). x is reordered.
func MedianMAD(x []float64) (median, spread float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	median = Median(x)
	for i, v := range x {
		x[i] = math.Abs(v - median)
	}
	return median, madToSigma * Median(x)
}

// SpreadFloor is the smallest spread a baseline with the given expected
// value is allowed: 5% of the expected value, the counting noise
// √|expected|, and at least 1. Without it a perfectly steady series (MAD 0)
// would call any change infinitely anomalous.
func SpreadFloor(expected float64) float64 {
	a := math.Abs(expected)
	return max(1, math.Sqrt(a), 0.05*a)
}

// RobustZ scores v against a sample of peers or history: (v-median)/spread
// with spread the floored 1.4826·MAD, positive above. It reorders x. ok is
// false when x has fewer than minSamples values.
func RobustZ(v float64, x []float64, minSamples int) (z, median float64, ok bool) {
	if len(x) == 0 || len(x) < minSamples {
		return 0, 0, false
	}
	median, spread := MedianMAD(x)
	spread = max(spread, SpreadFloor(median))
	return (v - median) / spread, median, true
}

// SensitivityZ maps Calico's *_SENSITIVITY setting (0..100, higher means
// more alerts) to the deviation, in learned spreads, at which a value is
// anomalous. The sensitivity sets the one-sided false alert probability of
// a normally distributed value per judgement on a log scale, from one in
// ten million at 0 to one in a hundred at 100:
//
//	p = 10^(-7 + 5·sensitivity/100), z = Φ⁻¹(1-p)
//
// so 0 gives z≈5.2, Calico's generic_flows default 1 gives 5.18, its
// generic_l7 default 10 gives 4.99, 50 gives 4.00 and 100 gives 2.33.
// Values outside 0..100 are clamped.
func SensitivityZ(sensitivity float64) float64 {
	s := min(max(sensitivity, 0), 100)
	p := math.Pow(10, -7+5*s/100)
	return distuv.UnitNormal.Quantile(1 - p)
}

// IQRFactorZ maps Calico's AD_SeasonalAD_c (default 500, higher means
// fewer alerts) to a deviation in learned spreads. Calico's bytes models
// were ADTK's SeasonalAD, whose c bounds the normal range at Q3 + c·IQR of
// the seasonal residuals. For a normal residual Q3 = 0.6745σ and
// IQR = 1.349σ, so the same bound is z = 0.6745 + 1.349·c: Calico's default
// 500 sits at 675 spreads (only gross bursts), c = 3 at 4.7.
func IQRFactorZ(c float64) float64 {
	return 0.6745 + 1.349*max(c, 0)
}

// Score maps a deviation z (in spreads, positive above) onto the common
// 0..1 score so that z at the threshold lands at 0.5: z/(z+threshold) for
// positive z, 0 otherwise.
func Score(z, threshold float64) float64 {
	if !(z > 0) || threshold <= 0 {
		return 0
	}
	if math.IsInf(z, 1) {
		return 1
	}
	return z / (z + threshold)
}
