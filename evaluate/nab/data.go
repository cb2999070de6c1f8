package nab

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is one labelled metric series of a NAB-format corpus.
type Series struct {
	// Name is the file's path under the corpus's data folder, with
	// forward slashes, as combined_windows.json names it (for example
	// "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv").
	Name string
	Rows []Row
	// Windows are the labelled anomaly windows, in time order.
	Windows []Window
	// Labels are the labelled anomaly points (combined_labels.json), when
	// the corpus has them.
	Labels []time.Time
	// Malformed counts the CSV lines that were skipped: no timestamp, no
	// number, or a timestamp not after the line before.
	Malformed int
}

// Row is one sample of a series.
type Row struct {
	Time  time.Time
	Value float64
}

// Window is a labelled anomaly window, both ends included as NAB scores
// them.
type Window struct {
	Start, End time.Time
}

// Contains reports whether t falls in [Start, End].
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && !t.After(w.End) }

// timeLayouts are the timestamp forms of NAB's CSVs and label files.
var timeLayouts = []string{"2006-01-02 15:04:05.999999", "2006-01-02T15:04:05.999999Z07:00", "2006-01-02T15:04:05.999999"}

// parseTime reads a NAB timestamp, UTC unless it names a zone.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp such as 2014-02-14 14:30:00", s)
}

// ReadSeries reads a `timestamp,value` CSV with a header line. A line
// whose timestamp or value cannot be read, or whose timestamp goes back in
// time, is counted in Series.Malformed and skipped; two samples with the
// same timestamp are both kept. It fails only when no row can be read.
func ReadSeries(name string, r io.Reader) (*Series, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	s := &Series{Name: name}
	line := 0
	var lineErrors []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			if _, ok := errors.AsType[*csv.ParseError](err); ok {
				s.Malformed++
				lineErrors = append(lineErrors, err.Error())
				continue
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if line == 1 && len(rec) >= 2 && strings.EqualFold(strings.TrimSpace(rec[1]), "value") {
			continue // the header
		}
		row, err := parseRow(rec)
		if err == nil && len(s.Rows) > 0 && row.Time.Before(s.Rows[len(s.Rows)-1].Time) {
			err = fmt.Errorf("timestamp %s is before the line above", row.Time.Format(time.DateTime))
		}
		if err != nil {
			s.Malformed++
			lineErrors = append(lineErrors, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		s.Rows = append(s.Rows, row)
	}
	if len(s.Rows) == 0 {
		if len(lineErrors) > 0 {
			return nil, fmt.Errorf("%s: no readable row (%s)", name, lineErrors[0])
		}
		return nil, fmt.Errorf("%s: no row", name)
	}
	return s, nil
}

func parseRow(rec []string) (Row, error) {
	if len(rec) < 2 {
		return Row{}, fmt.Errorf("want timestamp,value, got %d field(s)", len(rec))
	}
	t, err := parseTime(rec[0])
	if err != nil {
		return Row{}, err
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
	if err != nil || v != v || v > 1e300 || v < -1e300 {
		return Row{}, fmt.Errorf("value %q is not a finite number", rec[1])
	}
	return Row{Time: t, Value: v}, nil
}

// ReadWindows reads combined_windows.json: per series name, a list of
// [start, end] pairs.
func ReadWindows(r io.Reader) (map[string][]Window, error) {
	var raw map[string][][]string
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("want {\"group/file.csv\": [[start, end], ...]}: %w", err)
	}
	out := make(map[string][]Window, len(raw))
	for name, pairs := range raw {
		ws := make([]Window, 0, len(pairs))
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("%s window %d: want [start, end], got %d value(s)", name, i+1, len(p))
			}
			start, err := parseTime(p[0])
			if err != nil {
				return nil, fmt.Errorf("%s window %d start: %w", name, i+1, err)
			}
			end, err := parseTime(p[1])
			if err != nil {
				return nil, fmt.Errorf("%s window %d end: %w", name, i+1, err)
			}
			if end.Before(start) {
				return nil, fmt.Errorf("%s window %d: end %s before start %s", name, i+1, p[1], p[0])
			}
			ws = append(ws, Window{Start: start, End: end})
		}
		sort.Slice(ws, func(i, j int) bool { return ws[i].Start.Before(ws[j].Start) })
		out[name] = ws
	}
	return out, nil
}

// ReadLabels reads combined_labels.json: per series name, the labelled
// anomaly points.
func ReadLabels(r io.Reader) (map[string][]time.Time, error) {
	var raw map[string][]string
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("want {\"group/file.csv\": [timestamp, ...]}: %w", err)
	}
	out := make(map[string][]time.Time, len(raw))
	for name, stamps := range raw {
		ts := make([]time.Time, 0, len(stamps))
		for i, s := range stamps {
			t, err := parseTime(s)
			if err != nil {
				return nil, fmt.Errorf("%s label %d: %w", name, i+1, err)
			}
			ts = append(ts, t)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		out[name] = ts
	}
	return out, nil
}

// Corpus is what LoadCorpus read from a NAB-format folder.
type Corpus struct {
	Series []*Series
	// Skipped names the series that could not be read or have no entry in
	// combined_windows.json, with the reason.
	Skipped []string
}

// LoadCorpus reads the series of dir (a NAB-format folder: data/<group>/
// <file>.csv, combined_windows.json and, optionally,
// combined_labels.json) whose name matches one of the globs (path.Match
// against the name, such as "realAWSCloudwatch/*", or against its file
// name alone; none: every series), sorted by name. A series that cannot
// be read is skipped and named in Corpus.Skipped; a missing or broken
// windows file is an error.
func LoadCorpus(dir string, globs []string) (*Corpus, error) {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("series pattern %q: %w", g, err)
		}
	}
	wf, err := os.Open(filepath.Join(dir, "combined_windows.json"))
	if err != nil {
		return nil, fmt.Errorf("NAB windows: %w", err)
	}
	windows, err := ReadWindows(wf)
	wf.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "combined_windows.json"), err)
	}
	var labels map[string][]time.Time
	if lf, err := os.Open(filepath.Join(dir, "combined_labels.json")); err == nil {
		labels, err = ReadLabels(lf)
		lf.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "combined_labels.json"), err)
		}
	}
	dataDir := filepath.Join(dir, "data")
	var names []string
	err = filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".csv") {
			return nil
		}
		rel, err := filepath.Rel(dataDir, p)
		if err != nil {
			return err
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("NAB data: %w", err)
	}
	sort.Strings(names)
	c := &Corpus{}
	for _, name := range names {
		if !matches(name, globs) {
			continue
		}
		ws, ok := windows[name]
		if !ok {
			c.Skipped = append(c.Skipped, name+": no entry in combined_windows.json")
			continue
		}
		f, err := os.Open(filepath.Join(dataDir, filepath.FromSlash(name)))
		if err != nil {
			c.Skipped = append(c.Skipped, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		s, err := ReadSeries(name, f)
		f.Close()
		if err != nil {
			c.Skipped = append(c.Skipped, err.Error())
			continue
		}
		s.Windows, s.Labels = ws, labels[name]
		c.Series = append(c.Series, s)
	}
	if len(c.Series) == 0 {
		return c, fmt.Errorf("no series under %s matches %s", dataDir, strings.Join(globs, ","))
	}
	return c, nil
}

func matches(name string, globs []string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
		if ok, _ := path.Match(g, path.Base(name)); ok {
			return true
		}
	}
	return false
}
