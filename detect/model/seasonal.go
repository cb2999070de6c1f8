package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/stat"
)

const (
	hoursPerDay = 24
	daysKept    = 7 // one cell per hour of the last seven days
	cellsPerKey = hoursPerDay * daysKept
	// weeklyDeparture is how many spreads last week's same hour must depart
	// from the hour-of-day baseline before it replaces it: the hour has a
	// weekly pattern of its own (a weekend, a weekly job).
	weeklyDeparture = 3
	// maxHourValues bounds the raw values kept for the hour in progress.
	maxHourValues = 64
)

// SeasonalConfig configures a seasonal baseline.
type SeasonalConfig struct {
	// Bucket is the spacing of observations (the window size); it sizes the
	// buffer of the hour in progress.
	Bucket time.Duration
	// Sensitivity is Calico's *_SENSITIVITY, 0..100, higher means more
	// alerts; Threshold maps it to a deviation with SensitivityZ.
	Sensitivity float64
	// MinSamples is how many observations a key needs before Expect
	// answers for it.
	MinSamples int
	// LogScale learns and scores log(1+v) instead of v, for positive,
	// heavy-tailed quantities (bytes, counts, latencies) whose normal
	// variation is a factor rather than a difference: z then counts spreads
	// of the logarithm, and the spread floor is the counting noise
	// 1/√(1+expected), at least 0.05. Negative values count as 0.
	LogScale bool
}

// Seasonal is a robust seasonal baseline per key (an entity and field): it
// learns what a value usually is at each hour of the day and, once a week
// of history exists, at each hour of the week, and how much it usually
// varies there.
//
// Each key keeps one cell per hour of the last seven days (UTC): the mean
// and standard deviation of the values observed in that hour (so a burst
// that fills part of an hour, a backup at 02:00-02:30, widens that hour),
// plus the raw values of the hour in progress. Across days the model is
// robust: the expected value at t is the median of the cells' means at the
// same hour of day over the last seven days (the neighbouring hours join
// when fewer than two exist, and at least two days must cover it); the
// spread combines the median within-hour deviation and the day-to-day
// spread of the means (1.4826·MAD), floored by SpreadFloor. One odd day
// therefore moves neither. When last week's same hour departs from
// that by more than three spreads, the hour has a weekly pattern of its own
// and last week's cell is the baseline instead. Memory per key is fixed:
// about 1.7 KiB whatever the history length.
//
// A Seasonal is not safe for concurrent use.
type Seasonal struct {
	cfg       SeasonalConfig
	hourCap   int
	keys      map[string]*seasonalKey
	samples   uint64
	threshold float64
}

type seasonalKey struct {
	n        uint64
	bufHour  int64 // absolute hour (hours since the Unix epoch) of buf
	bufNext  uint16
	buf      []float32
	lastHour int64
	mean     [cellsPerKey]float32
	sd       [cellsPerKey]float32
	day      [cellsPerKey]uint16 // day number + 1 of the cell, 0 when empty
}

// NewSeasonal returns an empty seasonal baseline.
func NewSeasonal(cfg SeasonalConfig) *Seasonal {
	hourCap := 12
	if cfg.Bucket > 0 {
		hourCap = int((time.Hour + cfg.Bucket - 1) / cfg.Bucket)
	}
	hourCap = min(max(hourCap, 1), maxHourValues)
	return &Seasonal{
		cfg:       cfg,
		hourCap:   hourCap,
		keys:      map[string]*seasonalKey{},
		threshold: SensitivityZ(cfg.Sensitivity),
	}
}

// Threshold is the deviation, in spreads, at which the configured
// sensitivity calls a value anomalous (SensitivityZ).
func (s *Seasonal) Threshold() float64 { return s.threshold }

// Config is the configuration the baseline was made with.
func (s *Seasonal) Config() SeasonalConfig { return s.cfg }

// Samples is the number of observations learned, over all keys.
func (s *Seasonal) Samples() int { return int(s.samples) }

// Keys is the number of keys with a baseline.
func (s *Seasonal) Keys() int { return len(s.keys) }

func absHour(t time.Time) int64 {
	sec := t.Unix()
	h := sec / 3600
	if sec%3600 < 0 {
		h--
	}
	return h
}

func dayOf(hour int64) int64 {
	d := hour / hoursPerDay
	if hour%hoursPerDay < 0 {
		d--
	}
	return d
}

// cellIndex is where the absolute hour's cell lives and the stamp it
// carries when it holds that hour.
func cellIndex(hour int64) (idx int, stamp uint16) {
	d := dayOf(hour)
	hod := int(hour - d*hoursPerDay)
	col := int(((d % daysKept) + daysKept) % daysKept)
	return hod*daysKept + col, uint16(d + 1)
}

// Observe learns value v of key at time t. Observations should come in time
// order per key; one older than the hour in progress is ignored.
func (s *Seasonal) Observe(key string, t time.Time, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	v = s.scale(v)
	k := s.keys[key]
	h := absHour(t)
	if k == nil {
		k = &seasonalKey{bufHour: h, buf: make([]float32, 0, s.hourCap)}
		s.keys[key] = k
	}
	switch {
	case h < k.bufHour:
		return
	case h > k.bufHour:
		k.commit()
		k.bufHour = h
	}
	if len(k.buf) < cap(k.buf) {
		k.buf = append(k.buf, float32(v))
	} else {
		k.buf[int(k.bufNext)%len(k.buf)] = float32(v)
		k.bufNext++
	}
	k.n++
	k.lastHour = h
	s.samples++
}

// commit closes the hour in progress into its cell.
func (k *seasonalKey) commit() {
	if len(k.buf) == 0 {
		return
	}
	var scratch [maxHourValues]float64
	x := scratch[:len(k.buf)]
	for i, v := range k.buf {
		x[i] = float64(v)
	}
	mean, sd := stat.MeanStdDev(x, nil)
	if len(x) < 2 {
		sd = 0
	}
	idx, stamp := cellIndex(k.bufHour)
	k.mean[idx], k.sd[idx], k.day[idx] = float32(mean), float32(sd), stamp
	k.buf = k.buf[:0]
	k.bufNext = 0
}

// cell returns the cell of an absolute hour when it is still held.
func (k *seasonalKey) cell(hour int64) (med, spread float64, ok bool) {
	idx, stamp := cellIndex(hour)
	if k.day[idx] != stamp {
		return 0, 0, false
	}
	return float64(k.mean[idx]), float64(k.sd[idx]), true
}

// scale maps a value into the space the model learns in.
func (s *Seasonal) scale(v float64) float64 {
	if s.cfg.LogScale {
		return math.Log1p(max(v, 0))
	}
	return v
}

// floor is the smallest spread around expected, in the model's space.
func (s *Seasonal) floor(expected float64) float64 {
	if s.cfg.LogScale {
		return max(0.05, 1/math.Sqrt(math.Exp(expected)))
	}
	return SpreadFloor(expected)
}

// Expect returns the expected value of key at t and its robust spread
// (always at least SpreadFloor). ok is false until the key has MinSamples
// observations and at least two past days cover the hour. With LogScale
// the spread is how far one spread of the logarithm reaches above the
// expected value.
func (s *Seasonal) Expect(key string, t time.Time) (expected, spread float64, ok bool) {
	m, sp, ok := s.expect(key, t)
	if !ok || !s.cfg.LogScale {
		return m, sp, ok
	}
	return math.Expm1(m), math.Expm1(m+sp) - math.Expm1(m), true
}

// expect is Expect in the model's space.
func (s *Seasonal) expect(key string, t time.Time) (expected, spread float64, ok bool) {
	k := s.keys[key]
	if k == nil || k.n < uint64(max(s.cfg.MinSamples, 1)) {
		return 0, 0, false
	}
	h := absHour(t)
	var medBuf, spreadBuf [3 * daysKept]float64
	meds, spreads := medBuf[:0], spreadBuf[:0]
	var covered [daysKept + 1]bool
	gather := func(offset int64) {
		for d := int64(1); d <= daysKept; d++ {
			if m, sp, ok := k.cell(h - d*hoursPerDay + offset); ok {
				meds = append(meds, m)
				spreads = append(spreads, sp)
				covered[d] = true
			}
		}
	}
	gather(0)
	if len(meds) < 2 {
		gather(-1)
		gather(1)
	}
	days := 0
	for _, c := range covered {
		if c {
			days++
		}
	}
	if days < 2 {
		return 0, 0, false
	}
	within := Median(spreads)
	var between float64
	expected = Median(meds) // sorts meds
	if len(meds) >= 3 {
		for i, m := range meds {
			spreads[i] = math.Abs(m - expected)
		}
		between = madToSigma * Median(spreads[:len(meds)])
	}
	spread = max(math.Hypot(within, between), s.floor(expected))
	if wm, ws, ok := k.cell(h - daysKept*hoursPerDay); ok && math.Abs(wm-expected) > weeklyDeparture*spread {
		expected = wm
		spread = max(math.Hypot(ws, between), s.floor(wm))
	}
	return expected, spread, true
}

// Deviation returns how many spreads v lies from the expected value of key
// at t, (v-expected)/spread, positive above, and the expected value. With
// LogScale both v and the expectation are taken as log(1+x).
func (s *Seasonal) Deviation(key string, t time.Time, v float64) (z, expected float64, ok bool) {
	m, spread, ok := s.expect(key, t)
	if !ok || math.IsNaN(v) {
		return 0, 0, false
	}
	z = (s.scale(v) - m) / spread
	if s.cfg.LogScale {
		m = math.Expm1(m)
	}
	return z, m, true
}

// Prune forgets keys not observed since before, so entities that are gone
// release their memory. It returns how many keys were removed.
func (s *Seasonal) Prune(before time.Time) int {
	cut := absHour(before)
	removed := 0
	for key, k := range s.keys {
		if k.lastHour < cut {
			delete(s.keys, key)
			removed++
		}
	}
	return removed
}

// Binary format: magic, version, then the keys in sorted order, then a
// CRC-32 (IEEE) of everything before it. All integers little endian.
var seasonalMagic = []byte("CAESEAS")

const seasonalVersion = 1

// MarshalBinary encodes the learned state (not the configuration).
func (s *Seasonal) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.Write(seasonalMagic)
	b.WriteByte(seasonalVersion)
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w(s.samples)
	names := make([]string, 0, len(s.keys))
	for name := range s.keys {
		names = append(names, name)
	}
	sort.Strings(names)
	w(uint32(len(names)))
	for _, name := range names {
		k := s.keys[name]
		w(uint32(len(name)))
		b.WriteString(name)
		w(k.n)
		w(k.bufHour)
		w(k.lastHour)
		w(k.bufNext)
		w(uint16(len(k.buf)))
		w(k.buf)
		filled := uint16(0)
		for _, d := range k.day {
			if d != 0 {
				filled++
			}
		}
		w(filled)
		for i, d := range k.day {
			if d != 0 {
				w(uint8(i))
				w(d)
				w(k.mean[i])
				w(k.sd[i])
			}
		}
	}
	w(crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes(), nil
}

// ErrCorruptModel reports a model encoding that cannot be read: truncated,
// altered, or written by an unknown version.
var ErrCorruptModel = errors.New("corrupt model")

// UnmarshalBinary replaces the learned state with one written by
// MarshalBinary. On error the receiver is left unchanged.
func (s *Seasonal) UnmarshalBinary(data []byte) error {
	if len(data) < len(seasonalMagic)+1+4 || !bytes.Equal(data[:len(seasonalMagic)], seasonalMagic) {
		return fmt.Errorf("seasonal model: not a seasonal model: %w", ErrCorruptModel)
	}
	if v := data[len(seasonalMagic)]; v != seasonalVersion {
		return fmt.Errorf("seasonal model: version %d, this build reads %d: %w", v, seasonalVersion, ErrCorruptModel)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("seasonal model: checksum mismatch: %w", ErrCorruptModel)
	}
	r := bytes.NewReader(body[len(seasonalMagic)+1:])
	var err error
	rd := func(v any) {
		if err == nil {
			err = binary.Read(r, binary.LittleEndian, v)
		}
	}
	var samples uint64
	var nkeys uint32
	rd(&samples)
	rd(&nkeys)
	if err != nil {
		return fmt.Errorf("seasonal model: header: %v: %w", err, ErrCorruptModel)
	}
	if uint64(nkeys) > uint64(r.Len()) {
		return fmt.Errorf("seasonal model: %d keys in %d bytes: %w", nkeys, r.Len(), ErrCorruptModel)
	}
	keys := make(map[string]*seasonalKey, nkeys)
	for range nkeys {
		var nameLen uint32
		rd(&nameLen)
		if err != nil || uint64(nameLen) > uint64(r.Len()) {
			return fmt.Errorf("seasonal model: key name: %w", ErrCorruptModel)
		}
		name := make([]byte, nameLen)
		rd(name)
		k := &seasonalKey{}
		var bufLen, filled uint16
		rd(&k.n)
		rd(&k.bufHour)
		rd(&k.lastHour)
		rd(&k.bufNext)
		rd(&bufLen)
		if err != nil || int(bufLen) > maxHourValues {
			return fmt.Errorf("seasonal model: key %q: hour buffer: %w", name, ErrCorruptModel)
		}
		k.buf = make([]float32, bufLen, max(int(bufLen), s.hourCap))
		rd(k.buf)
		rd(&filled)
		if err != nil || int(filled) > cellsPerKey {
			return fmt.Errorf("seasonal model: key %q: cells: %w", name, ErrCorruptModel)
		}
		for range filled {
			var idx uint8
			rd(&idx)
			if err != nil || int(idx) >= cellsPerKey {
				return fmt.Errorf("seasonal model: key %q: cell index: %w", name, ErrCorruptModel)
			}
			rd(&k.day[idx])
			rd(&k.mean[idx])
			rd(&k.sd[idx])
		}
		if err != nil {
			return fmt.Errorf("seasonal model: key %q: %v: %w", name, err, ErrCorruptModel)
		}
		keys[string(name)] = k
	}
	if r.Len() != 0 {
		return fmt.Errorf("seasonal model: %d trailing bytes: %w", r.Len(), ErrCorruptModel)
	}
	s.keys, s.samples = keys, samples
	return nil
}
