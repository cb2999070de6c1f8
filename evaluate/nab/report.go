package nab

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Report is an evaluation's result.
type Report struct {
	Detectors    []string `json:"detectors"`
	Baselines    []string `json:"baselines"`
	LearnedHours float64  `json:"learned_hours"`
	// Series are the evaluated series, by name.
	Series []SeriesResult `json:"series"`
	// Skipped names the series not evaluated, with the reason.
	Skipped []string `json:"skipped,omitempty"`
	// Totals sum every series: Ours first, then the baselines, then each
	// detector alone.
	Totals []Total `json:"totals"`
}

// Total is one detector's (or baseline's, or Ours') result over every
// series.
type Total struct {
	Name string `json:"name"`
	// Kind is "ours", "baseline" or "detector".
	Kind       string `json:"kind"`
	Windows    int    `json:"windows"`
	Found      int    `json:"found"`
	Drops      int    `json:"drops"`
	DropsFound int    `json:"drops_found"`
	// MedianDelayMinutes is over the found windows (NaN with none: null
	// in JSON).
	MedianDelayMinutes float64   `json:"-"`
	FalseAlerts        int       `json:"false_alerts"`
	SeriesDays         float64   `json:"series_days"`
	FalseAlertsPerDay  float64   `json:"false_alerts_per_series_day"`
	NABScore           float64   `json:"-"`
	FalsePerDayByDay   []float64 `json:"false_alerts_per_series_day_by_day"`
	// FirstDayPerDay and LaterDaysPerDay are false alerts per series-day
	// on the first judged day and on all the later ones.
	FirstDayPerDay     float64 `json:"first_day_false_alerts_per_series_day"`
	LaterDaysPerDay    float64 `json:"later_days_false_alerts_per_series_day"`
	NeighbourAnomalies int     `json:"neighbour_anomalies,omitempty"`
}

// MarshalJSON writes the NaN figures as null.
func (t Total) MarshalJSON() ([]byte, error) {
	type plain Total
	return json.Marshal(struct {
		plain
		Delay *float64 `json:"median_delay_minutes"`
		NAB   *float64 `json:"nab_score"`
	}{plain(t), finite(t.MedianDelayMinutes), finite(t.NABScore)})
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// names are the outcomes a report holds, in order, with their kind.
func (r *Report) names() (names, kinds []string) {
	names, kinds = append(names, Ours), append(kinds, "ours")
	for _, b := range r.Baselines {
		names, kinds = append(names, b), append(kinds, "baseline")
	}
	for _, d := range r.Detectors {
		names, kinds = append(names, d), append(kinds, "detector")
	}
	return names, kinds
}

// total fills r.Totals from r.Series.
func (r *Report) total() {
	names, kinds := r.names()
	r.Totals = nil
	for n, name := range names {
		t := Total{Name: name, Kind: kinds[n]}
		var delays []float64
		var raw, null, perfect float64
		var byDay []int
		var coverage []float64
		for _, s := range r.Series {
			o := s.Outcomes[name]
			t.SeriesDays += s.Days
			for _, w := range o.Windows {
				t.Windows++
				if w.Drop {
					t.Drops++
				}
				if w.Found {
					t.Found++
					delays = append(delays, w.DelayMinutes)
					if w.Drop {
						t.DropsFound++
					}
				}
			}
			t.FalseAlerts += o.FalseAlerts
			raw, null, perfect = raw+o.NAB, null+o.NABNull, perfect+o.NABPerfect
			for d := 1; s.Judged != nil && s.Judged.DayCoverage(d) > 0; d++ {
				for len(byDay) < d {
					byDay, coverage = append(byDay, 0), append(coverage, 0)
				}
				coverage[d-1] += s.Judged.DayCoverage(d)
				if d-1 < len(o.FalseByDay) {
					byDay[d-1] += o.FalseByDay[d-1]
				}
			}
			if kinds[n] == "detector" {
				t.NeighbourAnomalies += s.Neighbours[name]
			} else if name == Ours {
				for _, c := range s.Neighbours {
					t.NeighbourAnomalies += c
				}
			}
		}
		t.MedianDelayMinutes = math.NaN()
		if len(delays) > 0 {
			t.MedianDelayMinutes = median(delays)
		}
		if t.SeriesDays > 0 {
			t.FalseAlertsPerDay = float64(t.FalseAlerts) / t.SeriesDays
		}
		t.NABScore = NormalisedNAB(raw, null, perfect)
		var later, laterCoverage float64
		for d := range byDay {
			t.FalsePerDayByDay = append(t.FalsePerDayByDay, float64(byDay[d])/coverage[d])
			if d > 0 {
				later, laterCoverage = later+float64(byDay[d]), laterCoverage+coverage[d]
			}
		}
		if len(byDay) > 0 {
			t.FirstDayPerDay = t.FalsePerDayByDay[0]
		}
		if laterCoverage > 0 {
			t.LaterDaysPerDay = later / laterCoverage
		}
		r.Totals = append(r.Totals, t)
	}
}

// Total returns the total of the named outcome.
func (r *Report) Total(name string) (Total, bool) {
	for _, t := range r.Totals {
		if t.Name == name {
			return t, true
		}
	}
	return Total{}, false
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable prints the report: per series, the windows found and false
// alerts per series-day of Ours and of each baseline; per window, the
// delay of each (Ours, baselines, detectors); the totals of each;
// the per-detector breakdown; and false alerts per series-day by day
// since judging began.
func (r *Report) WriteTable(w io.Writer) error {
	names, _ := r.names()
	sets := names[:1+len(r.Baselines)]
	fmt.Fprintf(w, "NAB evaluation: %d series, %.0f h learned before judging; detectors %s\n",
		len(r.Series), r.LearnedHours, strings.Join(r.Detectors, ","))
	fmt.Fprintln(w, "\nper series: windows found/judged (drops found/drops), false alerts per series-day")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := append([]string{"series", "days"}, sets...)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, s := range r.Series {
		cells := []string{s.Name, fmt.Sprintf("%.1f", s.Days)}
		for _, n := range sets {
			o := s.Outcomes[n]
			found, drops, dropsFound := 0, 0, 0
			for _, wo := range o.Windows {
				if wo.Found {
					found++
				}
				if wo.Drop {
					drops++
					if wo.Found {
						dropsFound++
					}
				}
			}
			cell := fmt.Sprintf("%d/%d", found, len(o.Windows))
			if drops > 0 {
				cell += fmt.Sprintf(" (%d/%d)", dropsFound, drops)
			}
			cells = append(cells, fmt.Sprintf("%s %.2f", cell, float64(o.FalseAlerts)/s.Days))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nper window: minutes from its start to the first flag, - when missed")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(append([]string{"series", "window start", "kind"}, names...), "\t")+"\t")
	for _, s := range r.Series {
		for k, wo := range s.Outcomes[Ours].Windows {
			kind := "rise"
			if wo.Drop {
				kind = "drop"
			}
			cells := []string{s.Name, wo.Start.Format("2006-01-02 15:04"), kind}
			for _, n := range names {
				if o := s.Outcomes[n]; k < len(o.Windows) && o.Windows[k].Found {
					cells = append(cells, fmt.Sprintf("%.0f", o.Windows[k].DelayMinutes))
				} else {
					cells = append(cells, "-")
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\ntotals (false alerts: flags outside every window, those less than 30 min apart counted once; per series-day, in all, on the first judged day and on the later ones)")
	if err := r.writeTotals(w, func(t Total) bool { return t.Kind != "detector" }); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nper detector (ours is their union; neighbour anomalies: verdicts on the steady workloads beside the series)")
	if err := r.writeTotals(w, func(t Total) bool { return t.Kind == "detector" }); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nfalse alerts per series-day by day since judging began")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	days := 0
	for _, t := range r.Totals {
		days = max(days, len(t.FalsePerDayByDay))
	}
	header = []string{"day"}
	for _, t := range r.Totals {
		header = append(header, t.Name)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for d := 0; d < days; d++ {
		cells := []string{fmt.Sprint(d + 1)}
		for _, t := range r.Totals {
			if d < len(t.FalsePerDayByDay) {
				cells = append(cells, fmt.Sprintf("%.2f", t.FalsePerDayByDay[d]))
			} else {
				cells = append(cells, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	return nil
}

func (r *Report) writeTotals(w io.Writer, keep func(Total) bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tfound\tdrops found\tmedian delay min\tfalse alerts\tper series-day\tday 1\tlater days\tNAB score\tneighbour anomalies\t")
	for _, t := range slices.DeleteFunc(slices.Clone(r.Totals), func(t Total) bool { return !keep(t) }) {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d/%d\t%s\t%d\t%.2f\t%.2f\t%.2f\t%s\t%d\t\n", t.Name, t.Found, t.Windows, t.DropsFound, t.Drops,
			number(t.MedianDelayMinutes, "%.0f"), t.FalseAlerts, t.FalseAlertsPerDay, t.FirstDayPerDay, t.LaterDaysPerDay,
			number(t.NABScore, "%.1f"), t.NeighbourAnomalies)
	}
	return tw.Flush()
}

func number(x float64, format string) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf(format, x)
}
