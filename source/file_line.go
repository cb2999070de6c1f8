package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// logName is how messages name log type t.
func logName(t calicolog.LogType) string {
	switch t {
	case calicolog.Flows:
		return "flow"
	case calicolog.DNS:
		return "DNS"
	case calicolog.L7:
		return "L7"
	}
	return string(t)
}

// LogTypeOfName is the log type a file name tells: the first of its words
// (split at anything but letters and digits) that is flows, flow,
// flowlogs, dns, dnslogs, l7 or l7logs; "" when none is.
func LogTypeOfName(name string) calicolog.LogType {
	for word := range strings.FieldsFuncSeq(strings.ToLower(name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		switch word {
		case "flows", "flow", "flowlogs":
			return calicolog.Flows
		case "dns", "dnslogs":
			return calicolog.DNS
		case "l7", "l7logs":
			return calicolog.L7
		}
	}
	return ""
}

// SniffLogType tells the log type of a Calico document by the fields only
// one log type has (source_name_aggr for flows, qname for DNS,
// src_name_aggr for L7); "" when none or several are there.
func SniffLogType(doc []byte) calicolog.LogType {
	var found calicolog.LogType
	for _, sig := range signatures {
		if bytes.Contains(doc, sig.key) {
			if found != "" {
				return ""
			}
			found = sig.t
		}
	}
	return found
}

var signatures = []struct {
	t   calicolog.LogType
	key []byte
}{
	{calicolog.Flows, []byte(`"source_name_aggr"`)},
	{calicolog.DNS, []byte(`"qname"`)},
	{calicolog.L7, []byte(`"src_name_aggr"`)},
}

// lineDoc is one record found on a line.
type lineDoc struct {
	log  calicolog.LogType // "" when it could not be told
	from string            // what told the log type
	doc  []byte            // the Calico document (a _source)
	hit  int               // position in a _search response's hits, from 1
	err  error             // why the record cannot be loaded, before decoding
}

// lineParser finds the records of one line of a file whose plain
// documents are of log type fileType ("" when unknown), told by typeFrom.
type lineParser struct {
	fileType calicolog.LogType
	typeFrom string
	// explicit says the options gave fileType: it then holds for hits of
	// indices that name no log type too.
	explicit bool
	// maxRecord is the largest record decoded; notBefore and notAfter
	// bound the plausible end_times, in Unix seconds.
	maxRecord           int
	notBefore, notAfter int64
	out                 []lineDoc
}

var (
	sourceKey = []byte(`"_source"`)
	indexKey  = []byte(`"_index"`)
	hitsKey   = []byte(`"hits"`)
)

// hit is an Elasticsearch _search hit.
type hit struct {
	Index  *string         `json:"_index"`
	Source json.RawMessage `json:"_source"`
	Hits   json.RawMessage `json:"hits"`
}

// parse returns the records of line (trimmed, not empty), reusing the
// parser's buffer. An error means the line holds no record it can tell
// apart: it counts as one malformed record of the file's log type.
func (p *lineParser) parse(line []byte) ([]lineDoc, error) {
	p.out = p.out[:0]
	if line[0] != '{' {
		if line[0] == '[' {
			return nil, errors.New("a JSON array, not one document")
		}
		return nil, fmt.Errorf("not a JSON object: starts with %q", truncateBytes(line, 20))
	}
	if !bytes.Contains(line, sourceKey) && !bytes.Contains(line, indexKey) && !bytes.Contains(line, hitsKey) {
		return append(p.out, p.plain(line)), nil
	}
	var h hit
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	switch {
	case h.Source != nil || h.Index != nil:
		return append(p.out, p.hit(h, 0)), nil
	case h.Hits != nil:
		var hits struct {
			Hits []hit `json:"hits"`
		}
		if err := json.Unmarshal(h.Hits, &hits); err != nil || hits.Hits == nil {
			return nil, errors.New(`"hits" is not a _search response's {"hits": [...]}`)
		}
		for i, one := range hits.Hits {
			p.out = append(p.out, p.hit(one, i+1))
		}
		return p.out, nil
	}
	return append(p.out, p.plain(line)), nil
}

func (p *lineParser) plain(line []byte) lineDoc {
	d := lineDoc{log: p.fileType, from: p.typeFrom, doc: line}
	if d.log == "" {
		d.err = fmt.Errorf("a plain document, and neither the options nor %s tell its log type (flows, dns or l7)", p.typeFrom)
		if !json.Valid(line) {
			d.err = errors.New("not JSON, in a file whose log type is unknown")
		}
	}
	return d
}

func (p *lineParser) hit(h hit, n int) lineDoc {
	d := lineDoc{doc: h.Source, hit: n}
	if h.Index != nil {
		if t, ok := calicolog.IndexLogType(*h.Index); ok {
			d.log, d.from = t, fmt.Sprintf("_index %q", *h.Index)
		}
	}
	if d.log == "" && (h.Index == nil || p.explicit) {
		d.log, d.from = p.fileType, p.typeFrom
	}
	switch {
	case d.log == "" && h.Index != nil:
		d.err = fmt.Errorf("a hit of index %q, which is no Calico log index (tigera_secure_ee_<flows|dns|l7>.* or calico_<flow|dns|l7>logs); give the log type in the options to read it", *h.Index)
	case d.log == "":
		d.err = fmt.Errorf("a hit without _index, and neither the options nor %s tell its log type", p.typeFrom)
	case h.Source == nil:
		d.err = errors.New("a hit without _source (was the search run with \"_source\": false?)")
	case bytes.Equal(bytes.TrimSpace(h.Source), []byte("null")):
		d.err = errors.New("a hit whose _source is null")
	}
	return d
}
