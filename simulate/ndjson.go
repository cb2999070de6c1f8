package simulate

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// clusterField is the cluster name documents carry under naming: the
// single-index layout tells clusters apart by it, the legacy one by index.
func clusterField(naming calicolog.IndexNaming) string {
	if naming.Layout == calicolog.LayoutSingle {
		return naming.Cluster
	}
	return ""
}

// eachDocument calls fn with every record of b as the document written
// for it (carrying cluster in its cluster field), its log type and its
// end time, in the batch's order: flows, then DNS, then L7 logs.
func eachDocument(b *Batch, cluster string, fn func(t calicolog.LogType, end time.Time, doc any) error) error {
	for i := range b.Flows {
		f := &b.Flows[i]
		f.Cluster = cluster
		if err := fn(calicolog.Flows, f.EndTime.Time(), f); err != nil {
			return err
		}
	}
	for i := range b.DNS {
		d := &b.DNS[i]
		d.Cluster = cluster
		if err := fn(calicolog.DNS, d.EndTime, d); err != nil {
			return err
		}
	}
	for i := range b.L7 {
		l := &b.L7[i]
		l.Cluster = cluster
		if err := fn(calicolog.L7, l.EndTime.Time(), l); err != nil {
			return err
		}
	}
	return nil
}

// NDJSONFileName is the name WriteNDJSON gives the file of log type t for
// the UTC day of day: <type>.[<tenant>.]<cluster>.<YYYY-MM-DD>.ndjson,
// with .gz appended when compressed. The log type leads, so the file
// source reads it from the name.
func NDJSONFileName(naming calicolog.IndexNaming, t calicolog.LogType, day time.Time, compressed bool) string {
	name := string(t) + "."
	if naming.Tenant != "" {
		name += naming.Tenant + "."
	}
	name += naming.Cluster + "." + day.UTC().Format(time.DateOnly) + ".ndjson"
	if compressed {
		name += ".gz"
	}
	return name
}

// WriteNDJSON writes the cluster's records that end in [from, to) into
// folder dir (created if missing) as newline-delimited JSON, one file per
// log type and UTC day named by NDJSONFileName, gzip compressed when
// compress is set. Each line is the document WriteElasticsearch would
// index for the record, byte for byte (so in the single-index layout it
// carries naming's cluster name). Windows of length bucket (the cluster's
// bucket if not positive) are generated one at a time, and a day's files
// are closed once the windows have passed it. The bytes written depend on
// the cluster's seed and the arguments only. A file is written under a
// temporary name and renamed when complete, replacing one of the same
// name; on error, the files not yet complete are removed.
func WriteNDJSON(ctx context.Context, dir string, naming calicolog.IndexNaming, c *Cluster, from, to time.Time, bucket time.Duration, compress bool) (Stats, error) {
	var st Stats
	if err := naming.Validate(); err != nil {
		return st, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, err
	}
	type key struct {
		t   calicolog.LogType
		day string
	}
	open := map[key]*ndjsonFile{}
	var order []key
	// finish completes the files of the days before day ("" for all).
	finish := func(day string) error {
		kept := order[:0]
		var err error
		for _, k := range order {
			if day != "" && k.day >= day {
				kept = append(kept, k)
				continue
			}
			if cerr := open[k].finish(); cerr != nil && err == nil {
				err = cerr
			}
			if err == nil {
				st.Files = append(st.Files, open[k].name)
			}
			delete(open, k)
		}
		order = kept
		return err
	}
	defer func() {
		for _, f := range open {
			f.abandon()
		}
	}()
	cluster := clusterField(naming)
	err := windows(ctx, c, from, to, bucket, func(b Batch) error {
		if err := eachDocument(&b, cluster, func(t calicolog.LogType, end time.Time, doc any) error {
			k := key{t, end.UTC().Format(time.DateOnly)}
			f := open[k]
			if f == nil {
				var err error
				if f, err = createNDJSON(filepath.Join(dir, NDJSONFileName(naming, t, end, compress)), compress); err != nil {
					return err
				}
				open[k] = f
				order = append(order, k)
			}
			return f.enc.Encode(doc)
		}); err != nil {
			return err
		}
		st.add(b)
		// The next window ends no earlier than this one: the days before
		// this one's last second are done.
		last := b.lastEnd()
		if last.IsZero() {
			return nil
		}
		return finish(last.UTC().Format(time.DateOnly))
	})
	if err == nil {
		err = finish("")
	}
	return st, err
}

// lastEnd is the latest end time of b's records (zero when it has none).
func (b *Batch) lastEnd() time.Time {
	var last time.Time
	see := func(t time.Time) {
		if t.After(last) {
			last = t
		}
	}
	for i := range b.Flows {
		see(b.Flows[i].EndTime.Time())
	}
	for i := range b.DNS {
		see(b.DNS[i].EndTime)
	}
	for i := range b.L7 {
		see(b.L7[i].EndTime.Time())
	}
	return last
}

// ndjsonFile is one file being written under a temporary name.
type ndjsonFile struct {
	name string // the final name
	f    *os.File
	buf  *bufio.Writer
	zw   *gzip.Writer
	enc  *json.Encoder
}

func createNDJSON(name string, compress bool) (*ndjsonFile, error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return nil, err
	}
	out := &ndjsonFile{name: name, f: f, buf: bufio.NewWriterSize(f, 256<<10)}
	var w io.Writer = out.buf
	if compress {
		// No name and no modification time in the header: the bytes
		// depend on the records only.
		out.zw = gzip.NewWriter(out.buf)
		w = out.zw
	}
	// json.Encoder writes what json.Marshal does, and a newline.
	out.enc = json.NewEncoder(w)
	return out, nil
}

// finish flushes and closes the file and gives it its final name.
func (n *ndjsonFile) finish() error {
	var err error
	if n.zw != nil {
		err = n.zw.Close()
	}
	err = errors.Join(err, n.buf.Flush())
	err = errors.Join(err, n.f.Chmod(0o644))
	err = errors.Join(err, n.f.Close())
	if err == nil {
		err = os.Rename(n.f.Name(), n.name)
	}
	if err != nil {
		os.Remove(n.f.Name())
		return fmt.Errorf("writing %s: %w", n.name, err)
	}
	return nil
}

// abandon closes and removes an incomplete file.
func (n *ndjsonFile) abandon() {
	n.f.Close()
	os.Remove(n.f.Name())
}

// EncodeNDJSON writes the cluster's records that end in [from, to) as
// newline-delimited JSON to the writer out returns for the record's log
// type (nil skips that type, and Stats does not count it): the documents
// WriteElasticsearch would index, one per line. Windows of length bucket
// (the cluster's bucket if not positive) are generated one at a time.
func EncodeNDJSON(ctx context.Context, out func(calicolog.LogType) io.Writer, naming calicolog.IndexNaming, c *Cluster, from, to time.Time, bucket time.Duration) (Stats, error) {
	var st Stats
	if err := naming.Validate(); err != nil {
		return st, err
	}
	bufs := map[calicolog.LogType]*bufio.Writer{}
	encs := map[calicolog.LogType]*json.Encoder{}
	for _, t := range calicolog.LogTypes {
		if w := out(t); w != nil {
			bufs[t] = bufio.NewWriterSize(w, 64<<10)
			encs[t] = json.NewEncoder(bufs[t])
		}
	}
	cluster := clusterField(naming)
	err := windows(ctx, c, from, to, bucket, func(b Batch) error {
		if err := eachDocument(&b, cluster, func(t calicolog.LogType, _ time.Time, doc any) error {
			if e := encs[t]; e != nil {
				return e.Encode(doc)
			}
			return nil
		}); err != nil {
			return err
		}
		st.add(b)
		return nil
	})
	if encs[calicolog.Flows] == nil {
		st.Flows = 0
	}
	if encs[calicolog.DNS] == nil {
		st.DNS = 0
	}
	if encs[calicolog.L7] == nil {
		st.L7 = 0
	}
	for _, t := range calicolog.LogTypes {
		if w := bufs[t]; w != nil {
			if ferr := w.Flush(); err == nil && ferr != nil {
				err = ferr
			}
		}
	}
	return st, err
}
