package dnsname

import (
	"bufio"
	"bytes"
	_ "embed"
	"math"
	"strings"
	"sync"
)

// The shipped training lists (see the comments at the top of each file).
var (
	//go:embed names.txt
	namesTxt []byte
	//go:embed words.txt
	wordsTxt []byte
)

// Symbols of the model: a boundary (start and end of a label), the letters,
// the digits, '-' and '_'. Every other byte maps to '_'.
const (
	boundary = 0
	symbols  = 1 + 26 + 10 + 2
)

var symbolOf = func() (t [256]uint8) {
	for i := range t {
		t[i] = 38 // '_' and anything unexpected
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = uint8(1 + c - 'a')
		t[c-'a'+'A'] = uint8(1 + c - 'a')
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = uint8(27 + c - '0')
	}
	t['-'] = 37
	return t
}()

// nameWeight is how many times a name of the shipped list counts against a
// word of the shipped vocabulary: names are what the model must know best.
const nameWeight = 5

// Model is a character trigram model of legitimate DNS labels with Laplace
// smoothing: P(c | a b) = (n(a b c) + 1) / (n(a b) + symbols-1). It scores
// labels by how much less likely they are than legitimate labels are on
// average. A Model is not safe for concurrent Learn; scoring is.
type Model struct {
	tri []uint32 // n(a b c), index (a*symbols+b)*symbols+c
	ctx []uint32 // n(a b ·)
	// logP holds log P(c | a b) for every trigram, kept in step with the
	// counts, so scoring needs no logarithm.
	logP []float64
	// meanLogP and sdLogP describe the log-probability of one transition
	// in the training labels.
	meanLogP, sdLogP float64
	learned          int // labels added by Learn
	// known are registered domains of the shipped names and of the names
	// learned: they score 0 whatever they look like ("msftncsi.com").
	known map[string]bool
}

// Default returns a new model trained on the shipped lists; every call
// returns an independent copy that may Learn on its own.
func Default() *Model { return defaultModel().Clone() }

var defaultModel = sync.OnceValue(func() *Model {
	m := newModel()
	var labels []string
	eachLine(namesTxt, func(line string) {
		n, err := Parse(line)
		if err != nil {
			panic("dnsname: shipped name " + line + ": " + err.Error())
		}
		if n.Registered != "" && !n.Internal {
			m.known[n.Registered] = true
		}
		for _, l := range strings.Split(n.FQDN, ".") {
			if l == n.Suffix {
				continue
			}
			for range nameWeight {
				m.count(l, false)
			}
			labels = append(labels, l)
		}
	})
	eachLine(wordsTxt, func(line string) {
		m.count(line, false)
		labels = append(labels, line)
	})
	for k := range symbols * symbols {
		m.refresh(uint32(k))
	}
	m.calibrate(labels)
	return m
})

func eachLine(data []byte, f func(string)) {
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f(line)
	}
}

func newModel() *Model {
	m := &Model{
		tri: make([]uint32, symbols*symbols*symbols), ctx: make([]uint32, symbols*symbols),
		logP: make([]float64, symbols*symbols*symbols), known: map[string]bool{},
	}
	for k := range symbols * symbols {
		m.refresh(uint32(k))
	}
	return m
}

// Clone returns an independent copy of m.
func (m *Model) Clone() *Model {
	c := *m
	c.tri = append([]uint32(nil), m.tri...)
	c.ctx = append([]uint32(nil), m.ctx...)
	c.logP = append([]float64(nil), m.logP...)
	c.known = make(map[string]bool, len(m.known))
	for k := range m.known {
		c.known[k] = true
	}
	return &c
}

// add counts the trigrams of one label, with two boundaries before and one
// after it, and brings their log-probabilities up to date.
func (m *Model) add(label string) { m.count(label, true) }

// count counts the trigrams of one label; with refresh false the
// log-probabilities are left stale (training refreshes them once at the end).
func (m *Model) count(label string, refresh bool) {
	a, b := uint32(boundary), uint32(boundary)
	for i := 0; i <= len(label); i++ {
		c := uint32(boundary)
		if i < len(label) {
			c = uint32(symbolOf[label[i]])
		}
		k := a*symbols + b
		if m.tri[k*symbols+c] < math.MaxUint32 {
			m.tri[k*symbols+c]++
			m.ctx[k]++
			if refresh {
				m.refresh(k)
			}
		}
		a, b = b, c
	}
}

// refresh recomputes the log-probabilities of context k.
func (m *Model) refresh(k uint32) {
	denom := float64(m.ctx[k]) + symbols - 1
	for c := range uint32(symbols) {
		m.logP[k*symbols+c] = math.Log((float64(m.tri[k*symbols+c]) + 1) / denom)
	}
}

// logLikelihood returns the natural log-likelihood of label under the
// model and how many transitions it has (its length plus the end).
func (m *Model) logLikelihood(label string) (float64, int) {
	a, b := uint32(boundary), uint32(boundary)
	sum := 0.0
	for i := 0; i <= len(label); i++ {
		c := uint32(boundary)
		if i < len(label) {
			c = uint32(symbolOf[label[i]])
		}
		sum += m.logP[(a*symbols+b)*symbols+c]
		a, b = b, c
	}
	return sum, len(label) + 1
}

// calibrate sets the mean and spread of one transition's log-probability
// over the training labels.
func (m *Model) calibrate(labels []string) {
	var n, sum, sumSq float64
	for _, l := range labels {
		a, b := uint32(boundary), uint32(boundary)
		for i := 0; i <= len(l); i++ {
			c := uint32(boundary)
			if i < len(l) {
				c = uint32(symbolOf[l[i]])
			}
			lp := m.logP[(a*symbols+b)*symbols+c]
			n++
			sum += lp
			sumSq += lp * lp
			a, b = b, c
		}
	}
	m.meanLogP = sum / n
	m.sdLogP = math.Sqrt(max(sumSq/n-m.meanLogP*m.meanLogP, 1e-9))
}

// Learn adds a name the cluster resolves to the model: its registered
// domain becomes known, and its labels make names like it (the cluster's
// services, its vendors) look legitimate. The calibration is kept: learning
// only makes known names more likely.
func (m *Model) Learn(n Name) {
	if n.Registered != "" && !n.Internal {
		m.known[n.Registered] = true
	}
	for l := range strings.SplitSeq(n.FQDN, ".") {
		if l != n.Suffix {
			m.add(l)
			m.learned++
		}
	}
}

// Know makes a registered domain known without learning its labels: a
// vendor's name that looks generated ("msftncsi.com") scores 0, and names
// like it do not score less.
func (m *Model) Know(registered string) { m.known[registered] = true }

// Forget makes a registered domain unknown again (the labels learned stay).
func (m *Model) Forget(registered string) { delete(m.known, registered) }

// Learned is how many labels Learn added.
func (m *Model) Learned() int { return m.learned }

// Features are what the model measures of one label.
type Features struct {
	Length int
	// Surprise is how much less likely the label is than a legitimate
	// label of its length: the shortfall of its log-likelihood against the
	// mean, in standard deviations of a sum of that many transitions (0 or
	// less for ordinary labels, 4 and more for random strings).
	Surprise float64
	// MeanSurprise is the same shortfall per transition, in standard
	// deviations of one transition: it does not grow with length (under
	// 0.7 for words and names, 1.4 and more for base32 or hex).
	MeanSurprise float64
	// Entropy is the Shannon entropy of the label's characters, in bits.
	Entropy float64
	// DigitRatio is the share of digits among the characters of a label
	// that has letters too (0 for an all-digit label such as "163").
	DigitRatio float64
	// Switches counts changes between letters and digits ("office365" has
	// one, "x7k2jq9" six): names put a number at one end, generators mix.
	Switches int
	// ConsonantRun is the longest run of consonants (letters other than
	// a, e, i, o, u, y).
	ConsonantRun int
	// LongestPart is the length of the longest part between hyphens.
	LongestPart int
}

// Measure computes the features of one label.
func (m *Model) Measure(label string) Features {
	f := Features{Length: len(label)}
	if label == "" {
		return f
	}
	lp, t := m.logLikelihood(label)
	f.Surprise = (m.meanLogP*float64(t) - lp) / (m.sdLogP * math.Sqrt(float64(t)))
	f.MeanSurprise = (m.meanLogP*float64(t) - lp) / (m.sdLogP * float64(t))
	var counts [symbols]int
	digits, letters, run, part := 0, 0, 0, 0
	var last byte // 'd' after a digit, 'l' after a letter
	for i := 0; i < len(label); i++ {
		c := label[i] | 0x20
		counts[symbolOf[label[i]]]++
		part++
		switch {
		case label[i] >= '0' && label[i] <= '9':
			digits++
			run = 0
			if last == 'l' {
				f.Switches++
			}
			last = 'd'
		case c >= 'a' && c <= 'z':
			letters++
			if last == 'd' {
				f.Switches++
			}
			last = 'l'
			if strings.IndexByte("aeiouy", c) >= 0 {
				run = 0
			} else {
				run++
				f.ConsonantRun = max(f.ConsonantRun, run)
			}
		default:
			run, part = 0, 0
		}
		f.LongestPart = max(f.LongestPart, part)
	}
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(label))
			f.Entropy -= p * math.Log2(p)
		}
	}
	if letters > 0 {
		f.DigitRatio = float64(digits) / float64(len(label))
	}
	return f
}

// Weights of the features in the logistic score of a label, set on the
// shipped names against random strings (see model_test.go): surprise
// carries most of it; digits mixed in among letters, long consonant runs and
// long parts between hyphens add to it.
const (
	biasWeight      = -3.2
	surpriseWeight  = 0.85
	digitWeight     = 4.0
	consonantWeight = 0.7 // per consonant past three in a row
	lengthWeight    = 0.12
	longLabel       = 12 // characters past which length adds to the score
	shortLabel      = 7  // characters under which evidence counts for less
)

// ScoreLabel is how machine-generated one label looks, 0..1.
func (m *Model) ScoreLabel(label string) float64 { return scoreFeatures(m.Measure(label)) }

// scoreFeatures is the logistic score of a label's features.
func scoreFeatures(f Features) float64 {
	if f.Length == 0 {
		return 0
	}
	mixed := min(1, float64(max(0, f.Switches-1))/2) // a number at one end is no sign
	evidence := surpriseWeight*f.Surprise + digitWeight*f.DigitRatio*mixed +
		consonantWeight*float64(max(0, f.ConsonantRun-3)) + lengthWeight*float64(max(0, f.LongestPart-longLabel))
	// Short labels ("w3", "ieee", "123rf") are too short to tell: brands
	// and acronyms look random at that length, and generators do not make
	// them.
	evidence *= min(1, float64(f.Length)/shortLabel)
	return 1 / (1 + math.Exp(-(biasWeight + evidence)))
}

// Word-like labels: at least wordMinLength letters and nothing else, no
// less likely character by character than the words names are made of
// (see Features.MeanSurprise). Dictionary-word generators make them
// ("nightchoose", "sacrospenite"), and so do product names: alone this
// says little, beside novelty and failure it says more.
const (
	wordMinLength       = 10
	wordMaxMeanSurprise = 0.7
)

// WordLike reports whether a label reads as words joined without a break.
func (m *Model) WordLike(label string) bool { return wordLike(label, m.Measure(label)) }

func wordLike(label string, f Features) bool {
	return len(label) >= wordMinLength && strings.Trim(label, "abcdefghijklmnopqrstuvwxyz") == "" &&
		f.MeanSurprise < wordMaxMeanSurprise
}

// ScoreWords is Score for a name the cluster does not know, and whether its
// registered label reads as joined words, measuring the label once.
func (m *Model) ScoreWords(n Name) (float64, bool) {
	if n.Internal || n.Label == "" {
		return 0, false
	}
	f := m.Measure(n.Label)
	s := scoreFeatures(f)
	if strings.HasPrefix(n.Label, "xn--") {
		s = min(s, IDNMaxScore)
	}
	return s, wordLike(n.Label, f)
}

// IDNMaxScore caps the score of internationalised labels (punycode,
// "xn--"): their ASCII form is an encoding, not a word the model knows.
const IDNMaxScore = 0.4

// Known reports whether a registered domain is one of the shipped names'
// or was learned.
func (m *Model) Known(registered string) bool { return m.known[registered] }

// Score is how machine-generated a name looks, 0..1: the score of its
// registered label, where domain generation algorithms put their output.
// Known registered domains, names that do not resolve on the internet
// (Internal) and public suffixes score 0.
func (m *Model) Score(n Name) float64 {
	if m.known[n.Registered] {
		return 0
	}
	return m.scoreUnknown(n)
}

// scoreUnknown is Score for a name whatever the known domains.
func (m *Model) scoreUnknown(n Name) float64 {
	if n.Internal || n.Label == "" {
		return 0
	}
	s := m.ScoreLabel(n.Label)
	if strings.HasPrefix(n.Label, "xn--") {
		s = min(s, IDNMaxScore)
	}
	return s
}
