package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// timeChart draws a series' recent windows as two inline SVG panels on
// one wall-clock time axis: the score against the labelled threshold, with
// anomalous windows marked in red and the span [from, to] (an incident)
// shaded; and the observed value against the expected one, in unit. Only
// numbers and fixed words go into the markup.
func timeChart(points []Point, unit string, width, height float64, from, to time.Time) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timechart" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="score and observed value over time">`, width, 2*height+10, width, 2*height+10)
	if len(points) == 0 {
		fmt.Fprintf(&b, `<text x="10" y="20" font-size="12">no recent windows</text></svg>`)
		return template.HTML(b.String())
	}
	t0, t1 := points[0].WindowEnd, points[len(points)-1].WindowEnd
	if !from.IsZero() && from.Before(t0) {
		t0 = from
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Minute)
	}
	const left, right, top, bottom = 64.0, 8.0, 8.0, 18.0
	plotW := width - left - right
	x := func(t time.Time) float64 { return left + float64(t.Sub(t0))/float64(t1.Sub(t0))*plotW }
	panel := func(y0 float64, lo, hi float64, series []struct {
		name, color string
		value       func(Point) float64
	}, threshold float64, yLabel func(float64) string) {
		plotH := height - top - bottom
		y := func(v float64) float64 { return y0 + top + plotH - (v-lo)/(hi-lo)*plotH }
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.1f" fill="#f6f8fa"/>`, left, y0+top, plotW, plotH)
		if !from.IsZero() && !to.IsZero() {
			x0, x1 := x(from), x(to)
			fmt.Fprintf(&b, `<rect class="incident-span" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ffeef0"/>`, x0, y0+top, math.Max(x1-x0, 2), plotH)
		}
		// Y axis: bottom, middle and top, in the unit.
		for _, v := range []float64{lo, (lo + hi) / 2, hi} {
			fmt.Fprintf(&b, `<text class="ylabel" x="%.0f" y="%.1f" font-size="10" text-anchor="end">%s</text>`, left-4, y(v)+3, template.HTMLEscapeString(yLabel(v)))
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e1e4e8"/>`, left, left+plotW, y(v), y(v))
		}
		if !math.IsNaN(threshold) {
			fmt.Fprintf(&b, `<line class="threshold" x1="%.0f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#d73a49" stroke-dasharray="4 3"/>`, left, left+plotW, y(threshold), y(threshold))
			fmt.Fprintf(&b, `<text class="threshold-label" x="%.1f" y="%.1f" font-size="10" fill="#d73a49" text-anchor="end">threshold %.2f</text>`, left+plotW-2, y(threshold)-3, threshold)
		}
		for _, s := range series {
			fmt.Fprintf(&b, `<polyline class="%s" fill="none" stroke="%s" stroke-width="1.5" points="`, s.name, s.color)
			for _, p := range points {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(p.WindowEnd), y(s.value(p)))
			}
			b.WriteString(`"/>`)
		}
		if !math.IsNaN(threshold) {
			for _, p := range points {
				if p.Score >= p.Threshold {
					fmt.Fprintf(&b, `<circle class="anomalous" cx="%.1f" cy="%.1f" r="3" fill="#d73a49"/>`, x(p.WindowEnd), y(p.Score))
				}
			}
		}
		// Time axis: wall-clock labels (UTC) at round times.
		for _, t := range timeTicks(t0, t1) {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#d1d5da"/>`, x(t), x(t), y0+top+plotH, y0+top+plotH+3)
			lx := math.Min(math.Max(x(t), left+14), width-16)
			fmt.Fprintf(&b, `<text class="xlabel" x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>`, lx, y0+height-4, t.UTC().Format("15:04"))
		}
		fmt.Fprintf(&b, `<text x="2" y="%.1f" font-size="10" fill="#6a737d">UTC</text>`, y0+height-4)
		// Legend.
		lx := left + 4
		for _, s := range series {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="%s">%s</text>`, lx, y0+top+11, s.color, s.name)
			lx += 8 + 6*float64(len(s.name))
		}
	}
	topScore := 1.0
	for _, p := range points {
		topScore = math.Max(topScore, math.Max(p.Score, p.Threshold))
	}
	panel(0, 0, topScore, []struct {
		name, color string
		value       func(Point) float64
	}{{"score", "#0366d6", func(p Point) float64 { return p.Score }}}, points[len(points)-1].Threshold,
		func(v float64) string { return fmt.Sprintf("%.2f", v) })
	lo, hi := 0.0, math.Inf(-1)
	for _, p := range points {
		hi = math.Max(hi, math.Max(p.Observed, p.Expected))
		lo = math.Min(lo, math.Min(p.Observed, p.Expected))
	}
	if hi <= lo {
		hi = lo + 1
	}
	panel(height+10, lo, hi, []struct {
		name, color string
		value       func(Point) float64
	}{
		{"observed", "#0366d6", func(p Point) float64 { return p.Observed }},
		{"expected", "#6a737d", func(p Point) float64 { return p.Expected }},
	}, math.NaN(), func(v float64) string { return withUnit(v, unit) })
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// timeTicks returns round times between t0 and t1, at most seven: every
// 5, 10, 15 or 30 minutes, or 1, 2, 3, 6 or 12 hours, or days.
func timeTicks(t0, t1 time.Time) []time.Time {
	span := t1.Sub(t0)
	step := 24 * time.Hour
	for _, s := range []time.Duration{5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if span/s <= 6 {
			step = s
			break
		}
	}
	var out []time.Time
	for t := t0.Truncate(step); !t.After(t1); t = t.Add(step) {
		if !t.Before(t0) {
			out = append(out, t)
		}
	}
	return out
}
