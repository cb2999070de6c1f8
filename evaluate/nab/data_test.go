package nab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadSeries(t *testing.T) {
	in := "timestamp,value\n" +
		"2014-02-14 14:30:00,0.132\n" +
		"2014-02-14 14:35:00,not-a-number\n" +
		"yesterday,1\n" +
		"2014-02-14 14:40:00,0.134\n" +
		"2014-02-14 14:20:00,0.2\n" + // goes back in time
		"2014-02-14 14:40:00,0.136\n" + // same time: kept
		"2014-02-14 14:45:00\n"
	s, err := ReadSeries("g/a.csv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rows) != 3 || s.Malformed != 4 {
		t.Fatalf("%d rows, %d malformed; want 3 rows, 4 malformed", len(s.Rows), s.Malformed)
	}
	want := time.Date(2014, 2, 14, 14, 40, 0, 0, time.UTC)
	if !s.Rows[1].Time.Equal(want) || s.Rows[1].Value != 0.134 {
		t.Errorf("row 2 = %+v, want 0.134 at %s", s.Rows[1], want)
	}
	if _, err := ReadSeries("g/b.csv", strings.NewReader("timestamp,value\nx,y\n")); err == nil || !strings.Contains(err.Error(), "g/b.csv") {
		t.Errorf("no readable row: err %v, want one naming the file", err)
	}
}

func TestReadWindows(t *testing.T) {
	ws, err := ReadWindows(strings.NewReader(`{"g/a.csv": [["2014-02-27 08:55:00.000000", "2014-02-28 01:35:00.000000"],
		["2014-02-26 13:45:00.000000", "2014-02-27 06:25:00.000000"]], "g/b.csv": []}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws["g/a.csv"]) != 2 || !ws["g/a.csv"][0].Start.Equal(time.Date(2014, 2, 26, 13, 45, 0, 0, time.UTC)) {
		t.Errorf("windows %v: want two, sorted by start", ws["g/a.csv"])
	}
	if w, ok := ws["g/b.csv"]; !ok || len(w) != 0 {
		t.Errorf("g/b.csv: %v, %v; want an empty list", w, ok)
	}
	for _, bad := range []string{
		`{"g/a.csv": [["2014-02-27 08:55:00"]]}`,
		`{"g/a.csv": [["2014-02-28 08:55:00", "2014-02-27 08:55:00"]]}`,
		`{"g/a.csv": [["soon", "2014-02-27 08:55:00"]]}`,
		`["g/a.csv"]`,
	} {
		if _, err := ReadWindows(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestLoadCorpus(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("combined_windows.json", `{"g/a.csv": [["2014-01-01 00:05:00", "2014-01-01 00:10:00"]], "h/c.csv": []}`)
	write("combined_labels.json", `{"g/a.csv": ["2014-01-01 00:05:00"]}`)
	write("data/g/a.csv", "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n")
	write("data/g/b.csv", "timestamp,value\n2014-01-01 00:00:00,1\n") // no windows entry
	write("data/h/c.csv", "timestamp,value\n")                        // no row
	c, err := LoadCorpus(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Series) != 1 || c.Series[0].Name != "g/a.csv" || len(c.Series[0].Windows) != 1 || len(c.Series[0].Labels) != 1 {
		t.Fatalf("series %+v, want g/a.csv with its window and label", c.Series)
	}
	if len(c.Skipped) != 2 {
		t.Errorf("skipped %v, want g/b.csv and h/c.csv", c.Skipped)
	}
	if c, err := LoadCorpus(dir, []string{"a.csv"}); err != nil || len(c.Series) != 1 {
		t.Errorf("glob on the file name: %v, %v", c, err)
	}
	if _, err := LoadCorpus(dir, []string{"h/*"}); err == nil {
		t.Error("no readable series matched: no error")
	}
	if _, err := LoadCorpus(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing folder: no error")
	}
}

func FuzzReadSeries(f *testing.F) {
	f.Add("timestamp,value\n2014-02-14 14:30:00,0.132\n2014-02-14 14:35:00,1e3\n")
	f.Add("timestamp,value\n\"2014-02-14 14:30:00\",\"1\n")
	f.Add("2014-02-14T14:30:00Z,-5\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ReadSeries("f.csv", strings.NewReader(in))
		if err != nil {
			return
		}
		if len(s.Rows) == 0 {
			t.Fatal("no error and no row")
		}
		for i := 1; i < len(s.Rows); i++ {
			if s.Rows[i].Time.Before(s.Rows[i-1].Time) {
				t.Fatalf("row %d goes back in time", i)
			}
		}
	})
}

func FuzzReadWindows(f *testing.F) {
	f.Add(`{"g/a.csv": [["2014-02-27 08:55:00.000000", "2014-02-28 01:35:00.000000"]]}`)
	f.Add(`{"g/a.csv": []}`)
	f.Fuzz(func(t *testing.T, in string) {
		ws, err := ReadWindows(strings.NewReader(in))
		if err != nil {
			return
		}
		for name, list := range ws {
			for i, w := range list {
				if w.End.Before(w.Start) {
					t.Fatalf("%s window %d ends before it starts", name, i)
				}
				if i > 0 && w.Start.Before(list[i-1].Start) {
					t.Fatalf("%s windows out of order", name)
				}
			}
		}
	})
}
