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
)

const (
	hoursPerDay = 24
	daysKept    = 7 // one cell per hour of the last seven days
	cellsPerKey = hoursPerDay * daysKept
	// weeklyDeparture is how many spreads last week's same hour must depart
	// from the hour-of-day baseline before it replaces it: the hour has a
	// weekly pattern of its own (a weekend, a weekly job).
	weeklyDeparture = 3
	// maxHourValues bounded the raw values of the hour in progress that
	// version 1 of the encoding kept.
	maxHourValues = 64
)

// SeasonalConfig configures a seasonal baseline.
type SeasonalConfig struct {
	// Bucket is the spacing of observations (the window size).
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
// plus the running mean and variance of the hour in progress. Across days
// the model is robust: the expected value at t is the median of the cells'
// means at the same hour of day over the last seven days (the neighbouring
// hours join when fewer than two exist, and at least two days must cover
// it); the spread combines the median within-hour deviation and the
// day-to-day spread of the means (1.4826·MAD), floored by SpreadFloor. One
// odd day therefore moves neither. When last week's same hour departs from
// that by more than three spreads, the hour has a weekly pattern of its own
// and last week's cell is the baseline instead.
//
// Memory per key is fixed, 704 bytes whatever the history length: with
// LogScale a cell holds the mean of log(1+v) as a 16-bit fixed-point
// number (steps of 1/1024, so at most 0.0005 off, a hundredth of the
// smallest spread) and its deviation in 8 bits on a logarithmic scale
// (20 steps an octave from 2^-8 to 26, at most 1.8% off; smaller
// deviations, far below the smallest spread, read 0); otherwise the cells
// are float32 pairs in an array of their own. Each cell carries an 8-bit
// day stamp (day number modulo 255, plus one), which tells the seven days
// held apart and could mistake a cell for one 1,785 days newer.
//
// A Seasonal is not safe for concurrent use.
type Seasonal struct {
	cfg       SeasonalConfig
	keys      map[string]*seasonalKey
	samples   uint64
	threshold float64
}

type seasonalKey struct {
	n        uint32 // observations, saturating
	bufHour  int32  // absolute hour (hours since the Unix epoch) in progress
	lastHour int32
	// The hour in progress: count, mean and sum of squared deviations of
	// its values (Welford).
	hourN    uint32
	hourMean float32
	hourM2   float32
	stamp    [cellsPerKey]uint8  // day stamp of each cell, 0 when empty
	mean     [cellsPerKey]uint16 // LogScale: the mean, fixed point
	sd       [cellsPerKey]uint8  // LogScale: the deviation, logarithmic
	linear   *[2 * cellsPerKey]float32
}

// Encoding of the log-scale cells.
const (
	logMeanUnit  = 1024 // fixed-point step of the mean
	sdMinOctave  = -8   // the smallest deviation held is 2^sdMinOctave
	sdPerOctave  = 20   // steps of the deviation per octave
	logMeanLimit = math.MaxUint16
)

func encodeMean(v float64) uint16 {
	return uint16(min(max(math.Round(v*logMeanUnit), 0), logMeanLimit))
}

func encodeSD(sd float64) uint8 {
	if !(sd > 0) {
		return 0
	}
	c := math.Round((math.Log2(sd)-sdMinOctave)*sdPerOctave) + 1
	return uint8(min(max(c, 0), 255))
}

func decodeSD(c uint8) float64 {
	if c == 0 {
		return 0
	}
	return math.Exp2(float64(c-1)/sdPerOctave + sdMinOctave)
}

// store writes a cell's mean and deviation.
func (s *Seasonal) store(k *seasonalKey, idx int, mean, sd float64) {
	if s.cfg.LogScale {
		k.mean[idx], k.sd[idx] = encodeMean(mean), encodeSD(sd)
		return
	}
	k.linear[2*idx], k.linear[2*idx+1] = float32(mean), float32(sd)
}

// NewSeasonal returns an empty seasonal baseline.
func NewSeasonal(cfg SeasonalConfig) *Seasonal {
	return &Seasonal{
		cfg:       cfg,
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
func cellIndex(hour int64) (idx int, stamp uint8) {
	d := dayOf(hour)
	hod := int(hour - d*hoursPerDay)
	col := int(((d % daysKept) + daysKept) % daysKept)
	return hod*daysKept + col, uint8(((d%255)+255)%255 + 1)
}

// Observe learns value v of key at time t. Observations should come in time
// order per key; one older than the hour in progress is ignored.
func (s *Seasonal) Observe(key string, t time.Time, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	v = s.scale(v)
	k := s.keys[key]
	h := int32(absHour(t))
	if k == nil {
		k = &seasonalKey{bufHour: h}
		if !s.cfg.LogScale {
			k.linear = new([2 * cellsPerKey]float32)
		}
		s.keys[key] = k
	}
	switch {
	case h < k.bufHour:
		return
	case h > k.bufHour:
		s.commit(k)
		k.bufHour = h
	}
	k.welford(v)
	if k.n < math.MaxUint32 {
		k.n++
	}
	k.lastHour = h
	s.samples++
}

// welford adds v to the running mean and variance of the hour in progress.
func (k *seasonalKey) welford(v float64) {
	if k.hourN < math.MaxUint32 {
		k.hourN++
	}
	mean := float64(k.hourMean)
	d := v - mean
	mean += d / float64(k.hourN)
	k.hourM2 += float32(d * (v - mean))
	k.hourMean = float32(mean)
}

// commit closes the hour in progress into its cell.
func (s *Seasonal) commit(k *seasonalKey) {
	if k.hourN == 0 {
		return
	}
	mean, sd := float64(k.hourMean), 0.0
	if k.hourN >= 2 {
		sd = math.Sqrt(max(float64(k.hourM2), 0) / float64(k.hourN-1))
	}
	idx, stamp := cellIndex(int64(k.bufHour))
	k.stamp[idx] = stamp
	s.store(k, idx, mean, sd)
	k.hourN, k.hourMean, k.hourM2 = 0, 0, 0
}

// cell returns the cell of an absolute hour when it is still held.
func (s *Seasonal) cell(k *seasonalKey, hour int64) (mean, sd float64, ok bool) {
	idx, stamp := cellIndex(hour)
	if k.stamp[idx] != stamp {
		return 0, 0, false
	}
	mean, sd = s.decode(k, idx)
	return mean, sd, true
}

// decode returns the mean and deviation held in cell idx.
func (s *Seasonal) decode(k *seasonalKey, idx int) (mean, sd float64) {
	if s.cfg.LogScale {
		return float64(k.mean[idx]) / logMeanUnit, decodeSD(k.sd[idx])
	}
	return float64(k.linear[2*idx]), float64(k.linear[2*idx+1])
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
	if k == nil || uint64(k.n) < uint64(max(s.cfg.MinSamples, 1)) {
		return 0, 0, false
	}
	h := absHour(t)
	var medBuf, spreadBuf [3 * daysKept]float64
	meds, spreads := medBuf[:0], spreadBuf[:0]
	var covered [daysKept + 1]bool
	gather := func(offset int64) {
		// The same hour of each of the seven days before: one column, and
		// one day stamp, back per day.
		idx, stamp := cellIndex(h - hoursPerDay + offset)
		hod, col := idx/daysKept, idx%daysKept
		for d := 1; d <= daysKept; d++ {
			if i := hod*daysKept + col; k.stamp[i] == stamp {
				m, sp := s.decode(k, i)
				meds = append(meds, m)
				spreads = append(spreads, sp)
				covered[d] = true
			}
			col = (col + daysKept - 1) % daysKept
			if stamp--; stamp == 0 {
				stamp = 255
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
	// Last week's same hour is the baseline instead when its mean departs,
	// or when it held a burst in part of the hour: its values spread over
	// more than weeklyDeparture spreads around a mean above the usual (a
	// weekly job at 03:00-03:30 on Sundays moves its cell's mean by part
	// of its size, but widens it; a window with nothing in it widens the
	// cell too, but lowers it). A burst that filled a quarter of the hour
	// or more lay at most √3 deviations above the cell's mean: the alert
	// bound moves that far above the cell's mean, no farther.
	if wm, ws, ok := s.cell(k, h-daysKept*hoursPerDay); ok {
		burst := ws > weeklyDeparture*spread && wm > expected
		switch {
		case burst:
			expected = wm
			spread = max(spread+math.Sqrt(3)*ws/max(s.threshold, 1), s.floor(wm))
		case math.Abs(wm-expected) > weeklyDeparture*spread:
			expected = wm
			spread = max(math.Hypot(ws, between), s.floor(wm))
		}
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
		if int64(k.lastHour) < cut {
			delete(s.keys, key)
			removed++
		}
	}
	return removed
}

// Binary format: magic, version, then (version 2) the cell encoding (1 for
// LogScale's packed cells, 0 for float32), the keys in sorted order, then a
// CRC-32 (IEEE) of everything before it. All integers little endian.
// Version 1 (float32 cells with 16-bit day stamps and the raw values of the
// hour in progress) is still read.
var seasonalMagic = []byte("CAESEAS")

const seasonalVersion = 2

// MarshalBinary encodes the learned state (not the configuration).
func (s *Seasonal) MarshalBinary() ([]byte, error) {
	names := make([]string, 0, len(s.keys))
	filled := 0
	for name, k := range s.keys {
		names = append(names, name)
		for _, st := range k.stamp {
			if st != 0 {
				filled++
			}
		}
	}
	sort.Strings(names)
	b := make([]byte, 0, 64+len(names)*64+filled*10)
	le := binary.LittleEndian
	b = append(b, seasonalMagic...)
	b = append(b, seasonalVersion)
	if s.cfg.LogScale {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = le.AppendUint64(b, s.samples)
	b = le.AppendUint32(b, uint32(len(names)))
	for _, name := range names {
		k := s.keys[name]
		b = le.AppendUint32(b, uint32(len(name)))
		b = append(b, name...)
		b = le.AppendUint32(b, k.n)
		b = le.AppendUint32(b, uint32(k.bufHour))
		b = le.AppendUint32(b, uint32(k.lastHour))
		b = le.AppendUint32(b, k.hourN)
		b = le.AppendUint32(b, math.Float32bits(k.hourMean))
		b = le.AppendUint32(b, math.Float32bits(k.hourM2))
		n := 0
		for _, st := range k.stamp {
			if st != 0 {
				n++
			}
		}
		b = le.AppendUint16(b, uint16(n))
		for i, st := range k.stamp {
			if st == 0 {
				continue
			}
			b = append(b, uint8(i), st)
			if s.cfg.LogScale {
				b = le.AppendUint16(b, k.mean[i])
				b = append(b, k.sd[i])
			} else {
				b = le.AppendUint32(b, math.Float32bits(k.linear[2*i]))
				b = le.AppendUint32(b, math.Float32bits(k.linear[2*i+1]))
			}
		}
	}
	b = le.AppendUint32(b, crc32.ChecksumIEEE(b))
	return b, nil
}

// ErrCorruptModel reports a model encoding that cannot be read: truncated,
// altered, or written by an unknown version.
var ErrCorruptModel = errors.New("corrupt model")

// decoder reads little-endian fields and remembers the first shortfall.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) next(n int) []byte {
	if d.bad || n > len(d.b) {
		d.bad = true
		return make([]byte, n)
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8() uint8   { return d.next(1)[0] }
func (d *decoder) u16() uint16 { return binary.LittleEndian.Uint16(d.next(2)) }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.next(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.next(8)) }

// UnmarshalBinary replaces the learned state with one written by
// MarshalBinary. On error the receiver is left unchanged.
func (s *Seasonal) UnmarshalBinary(data []byte) error {
	if len(data) < len(seasonalMagic)+1+4 || !bytes.Equal(data[:len(seasonalMagic)], seasonalMagic) {
		return fmt.Errorf("seasonal model: not a seasonal model: %w", ErrCorruptModel)
	}
	version := data[len(seasonalMagic)]
	if version != 1 && version != seasonalVersion {
		return fmt.Errorf("seasonal model: version %d, this build reads 1 and %d: %w", version, seasonalVersion, ErrCorruptModel)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("seasonal model: checksum mismatch: %w", ErrCorruptModel)
	}
	d := &decoder{b: body[len(seasonalMagic)+1:]}
	if version == seasonalVersion {
		if logScale := d.u8() == 1; logScale != s.cfg.LogScale {
			return fmt.Errorf("seasonal model: saved with log scale %v, configured with %v: %w", logScale, s.cfg.LogScale, ErrCorruptModel)
		}
	}
	samples := d.u64()
	nkeys := d.u32()
	if d.bad {
		return fmt.Errorf("seasonal model: header: %w", ErrCorruptModel)
	}
	if uint64(nkeys) > uint64(len(d.b)) {
		return fmt.Errorf("seasonal model: %d keys in %d bytes: %w", nkeys, len(d.b), ErrCorruptModel)
	}
	keys := make(map[string]*seasonalKey, nkeys)
	for range nkeys {
		nameLen := d.u32()
		if d.bad || uint64(nameLen) > uint64(len(d.b)) {
			return fmt.Errorf("seasonal model: key name: %w", ErrCorruptModel)
		}
		name := string(d.next(int(nameLen)))
		if _, dup := keys[name]; dup {
			return fmt.Errorf("seasonal model: key %q twice: %w", name, ErrCorruptModel)
		}
		k := &seasonalKey{}
		if !s.cfg.LogScale {
			k.linear = new([2 * cellsPerKey]float32)
		}
		var err error
		if version == 1 {
			err = s.readKeyV1(d, k)
		} else {
			err = s.readKey(d, k)
		}
		if err == nil && d.bad {
			err = errors.New("truncated")
		}
		if err != nil {
			return fmt.Errorf("seasonal model: key %q: %v: %w", name, err, ErrCorruptModel)
		}
		keys[name] = k
	}
	if len(d.b) != 0 {
		return fmt.Errorf("seasonal model: %d trailing bytes: %w", len(d.b), ErrCorruptModel)
	}
	s.keys, s.samples = keys, samples
	return nil
}

func (s *Seasonal) readKey(d *decoder, k *seasonalKey) error {
	k.n = d.u32()
	k.bufHour = int32(d.u32())
	k.lastHour = int32(d.u32())
	k.hourN = d.u32()
	k.hourMean = math.Float32frombits(d.u32())
	k.hourM2 = math.Float32frombits(d.u32())
	filled := d.u16()
	if int(filled) > cellsPerKey {
		return fmt.Errorf("%d cells", filled)
	}
	for range filled {
		idx, stamp := d.u8(), d.u8()
		if int(idx) >= cellsPerKey || stamp == 0 {
			return fmt.Errorf("cell %d stamp %d", idx, stamp)
		}
		i := int(idx)
		k.stamp[i] = stamp
		if s.cfg.LogScale {
			k.mean[i], k.sd[i] = d.u16(), d.u8()
		} else {
			k.linear[2*i], k.linear[2*i+1] = math.Float32frombits(d.u32()), math.Float32frombits(d.u32())
		}
	}
	return nil
}

// readKeyV1 reads a key of version 1 into the present layout: the raw
// values of the hour in progress become its running mean and variance, the
// cells are re-encoded.
func (s *Seasonal) readKeyV1(d *decoder, k *seasonalKey) error {
	n := d.u64()
	k.n = uint32(min(n, math.MaxUint32))
	k.bufHour = int32(d.u64())
	k.lastHour = int32(d.u64())
	d.u16() // position in the ring of the hour's values
	bufLen := d.u16()
	if int(bufLen) > maxHourValues {
		return fmt.Errorf("%d values in the hour buffer", bufLen)
	}
	for range bufLen {
		v := float64(math.Float32frombits(d.u32()))
		k.welford(v)
	}
	filled := d.u16()
	if int(filled) > cellsPerKey {
		return fmt.Errorf("%d cells", filled)
	}
	for range filled {
		idx := d.u8()
		day := d.u16()
		mean, sd := float64(math.Float32frombits(d.u32())), float64(math.Float32frombits(d.u32()))
		if int(idx) >= cellsPerKey || day == 0 {
			return fmt.Errorf("cell %d day %d", idx, day)
		}
		k.stamp[idx] = uint8((int64(day)-1)%255 + 1)
		s.store(k, int(idx), mean, sd)
	}
	return nil
}
