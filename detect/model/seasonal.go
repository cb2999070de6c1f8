package model

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
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
	// recentHours is how far back Seen looks for a deviation like the
	// present one: the hours of the last two days each keep the highest
	// and lowest value they saw, learned or not.
	recentHours = 48
	// fullWeek is the history, in days, at which an hour's baseline is
	// taken as fully known; with fewer days its spread is widened
	// (predictiveWidening).
	fullWeek = daysKept
	// tailDays is how many days' largest deviations a key keeps
	// (SeenDays): the seven days before the day in progress, and that
	// day.
	tailDays = daysKept + 1
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
	// LevelShiftAfter is how long a key's values must stay away from its
	// baseline on the same side (Track: past half the threshold, allowing
	// brief returns) before the new level becomes its baseline; 0 never
	// moves a baseline.
	LevelShiftAfter time.Duration
	// WithoutRecent keeps no extremes of recent hours, for a model that
	// never asks Seen: Seen then always answers false and Note only
	// closes the hour in progress, HourDeviation never answers, and each
	// key is 376 bytes smaller.
	WithoutRecent bool
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
// Memory per key grows with the hours it holds, to about 1,300 bytes with
// a week of them and recent extremes (BenchmarkSeasonalKeyMemory; about
// 800 with two days): with LogScale a cell holds the mean of log(1+v) as a
// 16-bit fixed-point number (steps of 1/1024, so at most 0.0005 off, a
// hundredth of the smallest spread) and its deviation in 8 bits on a
// logarithmic scale (20 steps an octave from 2^-8 to 26, at most 1.8% off;
// smaller deviations, far below the smallest spread, read 0); otherwise
// the cells are float32 pairs in an array of their own. Each cell carries
// an 8-bit day stamp (day number modulo 255, plus one), which tells the
// seven days held apart and could mistake a cell for one 1,785 days
// newer.
//
// Keys are named by strings. A model told its fields (SetFields) holds
// the keys named "<entity><sep><field>" in one group per entity
// (SeasonalKeys, from Entity), by field number: the names are held once
// per entity, and a caller that judges an entity's fields every window
// resolves the entity once and asks by field number, without building or
// looking up a name per field. Every method taking a name finds grouped
// keys too, and the saved encoding does not depend on the grouping.
//
// A Seasonal is not safe for concurrent use.
type Seasonal struct {
	cfg       SeasonalConfig
	keys      map[string]*seasonalKey // the keys not in an entity's group
	samples   uint64
	threshold float64
	// The keys of entities (SetFields): a group per entity base, each
	// holding its fields' keys by field number, so the names are held
	// once per entity and not per key, and a caller holding the group
	// finds a field's key without a lookup.
	sep     string
	fields  []string
	fieldOf map[string]int
	groups  map[string]*SeasonalKeys
	grouped int // keys held in groups
}

// SeasonalKeys are the keys of one entity of a Seasonal: for each field
// f the model was given (SetFields), the key named base+sep+f. Its
// methods answer as the Seasonal's methods of the same name do for that
// name, given the field's number instead, and find the key without
// looking a name up. A group stays valid until Prune, Forget or
// SeasonalKeys.Forget remove one of its keys, or UnmarshalBinary
// replaces the model; get it again from Entity after that.
type SeasonalKeys struct {
	s    *Seasonal
	base string
	keys []*seasonalKey // by field number, nil when none
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
	// The highest and lowest value of the hour in progress, learned or
	// noted (Note), valid when hourSeen.
	hourHi, hourLo float32
	// Pooled spreads over every cell held, refreshed as each hour closes:
	// the typical within-hour deviation and the day-to-day spread of the
	// hours' means.
	pooledWithin, pooledBetween float32
	// The run of windows beyond the threshold on one side (Track): its
	// length, signed.
	streak int32
	// meansVar is the day-to-day variance of the hours' means over every
	// value (learned and noted), from the recent hours' means: the spread
	// of an hour's mean that HourDeviation judges by, bursts included.
	// Refreshed as each hour closes and when a model is read, so saved
	// models do not carry it; 0 while too few hours are known.
	meansVar float32
	// The hour in progress over every value, learned or noted: how many
	// and their sum, in the model's space.
	hourAllN   uint32
	hourAllSum float32
	// The hour in progress over the values noted as known behaviour
	// (NoteKnown): how many and their sum, in the model's space.
	hourKnownN   uint32
	hourKnownSum float32
	// drift and driftDown are the upper and lower CUSUMs of the closed
	// hours' means, in spreads of an hour's mean (Drift): how far a run of
	// hours has risen, or fallen, together, past what each hour alone
	// shows. driftReset: a caller restarted them in the hour in progress
	// (ResetDrift).
	drift, driftDown float32
	driftReset       bool
	// The departure followed for a level change (Track): its length in
	// windows, signed by its side, its CUSUM statistic in spreads, and the
	// sum of its residuals in the model's space.
	shiftN   int32
	shiftS   float32
	shiftSum float32
	hourSeen bool
	// The last level change Track made: the absolute hour its departure
	// began and how far the cells moved (0: none yet). Not saved: a
	// model read back treats its next change as its first.
	lastShiftAt int32
	lastShiftBy float32
	// The cells held, in index order (cellIndex): a bit per index in
	// filled, and only the filled cells in cells, so a key that has seen
	// two days of hours holds 48 cells, not 168. Each cell packs its day
	// stamp (low 8 bits), and with LogScale its deviation (next 8) and
	// mean (high 16); otherwise the mean and deviation are the float32
	// pair of the same rank in lin.cells.
	filled [(cellsPerKey + 63) / 64]uint64
	cells  []uint32
	recent *recentExtremes // from the first hour closed, unless WithoutRecent
	lin    *linearCells    // without LogScale only
}

// recentExtremes are the extremes of each of the last recentHours hours of
// a key, by absolute hour modulo recentHours: a stamp telling which hour
// the slot holds (0 when empty), and the highest and lowest value
// (LogScale: fixed point like the cells' means; otherwise in lin.recent).
type recentExtremes struct {
	stamp  [recentHours]uint8
	hi, lo [recentHours]uint16
	// The mean of every value of the hour, as a fraction of the way from
	// lo to hi in 255 steps (at most 1/510 of the hour's range off), held
	// when hasMean's bit is set: an hour with at least minHourMeanValues
	// values.
	mean    [recentHours]uint8
	hasMean uint64
	// drifted has the bit of each recent hour in which the drift was
	// restarted (ResetDrift): DriftSeen.
	drifted uint64
	// The largest rise and fall of each of the last tailDays days (UTC),
	// by day number modulo tailDays, each slot stamped with its day
	// (daySlot; 0 when empty): of the hour whose highest value lay
	// farthest above its expected value when the hour closed, that value
	// (dayHi) and the expected one (dayHiAt); of the hour whose lowest lay
	// farthest below, likewise (dayLo, dayLoAt). Fixed point like the
	// cells' means; a side with no departure holds its value and expected
	// value equal. LogScale only: SeenDays.
	dayStamp                       [tailDays]uint8
	dayHi, dayHiAt, dayLo, dayLoAt [tailDays]uint16
}

// recentStamp is the stamp of recent slot idx, 0 when empty.
func (k *seasonalKey) recentStamp(idx int) uint8 {
	if k.recent == nil {
		return 0
	}
	return k.recent.stamp[idx]
}

// linearCells are the float32 figures of a key without LogScale.
type linearCells struct {
	cells  []float32 // mean and deviation of each filled cell, by rank
	recent [2 * recentHours]float32
}

// cellGrowth is how many cells a key's storage grows by: a day of hours.
const cellGrowth = hoursPerDay

// rank is the position in k.cells of cell idx, and whether it is filled.
func (k *seasonalKey) rank(idx int) (int, bool) {
	w, bit := idx/64, uint(idx%64)
	r := 0
	for i := range w {
		r += bits.OnesCount64(k.filled[i])
	}
	r += bits.OnesCount64(k.filled[w] & (1<<bit - 1))
	return r, k.filled[w]&(1<<bit) != 0
}

// row returns the rank of the first cell of hour of the day hod's row
// (cell indexes hod*daysKept on, one per column) and a bit per column
// held, so the row's cells are found with one rank instead of one each.
func (k *seasonalKey) row(hod int) (r0 int, held uint8) {
	start := hod * daysKept
	r0, _ = k.rank(start)
	w, b := start/64, uint(start%64)
	v := k.filled[w] >> b
	if b > 64-daysKept && w+1 < len(k.filled) {
		v |= k.filled[w+1] << (64 - b)
	}
	return r0, uint8(v & (1<<daysKept - 1))
}

// stampAt is the day stamp of cell idx, 0 when empty.
func (k *seasonalKey) stampAt(idx int) uint8 {
	r, ok := k.rank(idx)
	if !ok {
		return 0
	}
	return uint8(k.cells[r])
}

// slot returns the rank of cell idx, making room for it when it is empty.
func (s *Seasonal) slot(k *seasonalKey, idx int) int {
	r, ok := k.rank(idx)
	if ok {
		return r
	}
	k.filled[idx/64] |= 1 << uint(idx%64)
	if len(k.cells) == cap(k.cells) {
		c := min(cap(k.cells)+cellGrowth, cellsPerKey)
		grown := make([]uint32, len(k.cells), c)
		copy(grown, k.cells)
		k.cells = grown
		if k.lin != nil {
			g := make([]float32, len(k.lin.cells), 2*c)
			copy(g, k.lin.cells)
			k.lin.cells = g
		}
	}
	k.cells = slices.Insert(k.cells, r, 0)
	if k.lin != nil {
		k.lin.cells = slices.Insert(k.lin.cells, 2*r, 0, 0)
	}
	return r
}

// eachWeekCell calls f with the rank, the hour of the day and the
// absolute hour of every cell that holds one of the cellsPerKey hours up
// to absolute hour last, in index order. Each index stands for exactly
// one hour of those: on the day of last, the hours up to last's; a week
// before, the later ones; on the six days between, every hour. So only the filled cells are
// visited, each once, instead of a lookup per hour of the week.
func (k *seasonalKey) eachWeekCell(last int64, f func(r, hod int, hour int64)) {
	lastDay := dayOf(last)
	lastHod := int(last - lastDay*hoursPerDay)
	lastCol := int(((lastDay % daysKept) + daysKept) % daysKept)
	r := 0
	for w, word := range k.filled {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &= word - 1
			idx := w*64 + b
			hod, col := idx/daysKept, idx%daysKept
			day := lastDay - int64((lastCol-col+daysKept)%daysKept)
			if col == lastCol && hod > lastHod {
				day -= daysKept
			}
			hour := day*hoursPerDay + int64(hod)
			if _, stamp := cellIndex(hour); uint8(k.cells[r]) == stamp {
				f(r, hod, hour)
			}
			r++
		}
	}
}

// filledCells is how many cells k holds.
func (k *seasonalKey) filledCells() int { return len(k.cells) }

// newKey returns an empty key in the layout of the configuration.
func (s *Seasonal) newKey() *seasonalKey {
	k := &seasonalKey{}
	if !s.cfg.LogScale {
		k.lin = &linearCells{}
	}
	return k
}

// recentSlot is where the extremes of an absolute hour live and the stamp
// they carry.
func recentSlot(hour int64) (idx int, stamp uint8) {
	idx = int(((hour % recentHours) + recentHours) % recentHours)
	block := hour / recentHours
	if hour%recentHours < 0 {
		block--
	}
	return idx, uint8(((block%255)+255)%255 + 1)
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
	return uint8(min(max(c, 0), apartSD-1))
}

// apartSD is the deviation code of a log-scale cell held apart (apart):
// beyond any deviation of a logarithm (2^4.7, a ratio of e^26).
const apartSD = 255

func decodeSD(c uint8) float64 {
	if c == 0 || c == apartSD {
		return 0
	}
	return math.Exp2(float64(c-1)/sdPerOctave + sdMinOctave)
}

// store writes a cell's day stamp, mean and deviation.
func (s *Seasonal) store(k *seasonalKey, idx int, stamp uint8, mean, sd float64) {
	s.storeRank(k, s.slot(k, idx), stamp, mean, sd)
}

// storeRank writes the day stamp, mean and deviation of the cell of rank r.
func (s *Seasonal) storeRank(k *seasonalKey, r int, stamp uint8, mean, sd float64) {
	if s.cfg.LogScale {
		k.cells[r] = packCell(stamp, encodeMean(mean), encodeSD(sd))
		return
	}
	k.cells[r] = uint32(stamp)
	k.lin.cells[2*r], k.lin.cells[2*r+1] = float32(mean), float32(sd)
}

// packCell packs a log-scale cell: stamp, deviation and mean.
func packCell(stamp uint8, mean uint16, sd uint8) uint32 {
	return uint32(stamp) | uint32(sd)<<8 | uint32(mean)<<16
}

// NewSeasonal returns an empty seasonal baseline.
func NewSeasonal(cfg SeasonalConfig) *Seasonal {
	return &Seasonal{
		cfg:       cfg,
		keys:      map[string]*seasonalKey{},
		threshold: SensitivityZ(cfg.Sensitivity),
	}
}

// SetFields makes the keys named base+sep+field, for each of fields, the
// keys of an entity base (Entity), held in a group of their own; other
// names stay as they are. Call it before anything is learned or loaded:
// it returns an error when the model holds keys, when sep is empty, or
// when a field is empty, contains sep or is listed twice.
func (s *Seasonal) SetFields(sep string, fields []string) error {
	if s.Keys() > 0 {
		return errors.New("seasonal model: fields set after keys were learned")
	}
	if sep == "" {
		return errors.New("seasonal model: empty field separator")
	}
	of := make(map[string]int, len(fields))
	for i, f := range fields {
		if f == "" || strings.Contains(f, sep) {
			return fmt.Errorf("seasonal model: field %q is empty or contains the separator %q", f, sep)
		}
		if _, dup := of[f]; dup {
			return fmt.Errorf("seasonal model: field %q twice", f)
		}
		of[f] = i
	}
	s.sep, s.fields, s.fieldOf, s.groups = sep, slices.Clone(fields), of, map[string]*SeasonalKeys{}
	return nil
}

// Entity returns the group of keys of entity base (SetFields), made empty
// when it has none. It panics when no fields were set.
func (s *Seasonal) Entity(base string) *SeasonalKeys {
	if s.groups == nil {
		panic("seasonal model: Entity without SetFields")
	}
	g := s.groups[base]
	if g == nil {
		g = &SeasonalKeys{s: s, base: base, keys: make([]*seasonalKey, len(s.fields))}
		s.groups[base] = g
	}
	return g
}

// split returns the group base and field number of a key name, ok false
// when the name is not one of a group's.
func (s *Seasonal) split(name string) (base string, field int, ok bool) {
	if s.fieldOf == nil {
		return "", 0, false
	}
	i := strings.LastIndex(name, s.sep)
	if i < 0 {
		return "", 0, false
	}
	field, ok = s.fieldOf[name[i+len(s.sep):]]
	return name[:i], field, ok
}

// find returns the key named name, nil when there is none.
func (s *Seasonal) find(name string) *seasonalKey {
	if k := s.keys[name]; k != nil {
		return k
	}
	if base, f, ok := s.split(name); ok {
		if g := s.groups[base]; g != nil {
			return g.keys[f]
		}
	}
	return nil
}

// add makes key name, empty, its hour in progress that of t.
func (s *Seasonal) add(name string, t time.Time) *seasonalKey {
	if base, f, ok := s.split(name); ok {
		return s.Entity(base).add(f, t)
	}
	k := s.newKey()
	k.bufHour = int32(absHour(t))
	s.keys[name] = k
	return k
}

// add makes the key of field f, empty, its hour in progress that of t.
func (g *SeasonalKeys) add(f int, t time.Time) *seasonalKey {
	k := g.s.newKey()
	k.bufHour = int32(absHour(t))
	g.keys[f] = k
	g.s.grouped++
	return k
}

// empty reports whether the group holds no key.
func (g *SeasonalKeys) empty() bool {
	for _, k := range g.keys {
		if k != nil {
			return false
		}
	}
	return true
}

// Observe is Seasonal.Observe of field f's key.
func (g *SeasonalKeys) Observe(f int, t time.Time, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	k := g.keys[f]
	if k == nil {
		k = g.add(f, t)
	}
	g.s.observe(k, t, v)
}

// Note is Seasonal.Note of field f's key.
func (g *SeasonalKeys) Note(f int, t time.Time, v float64) { g.s.note(g.keys[f], t, v) }

// NoteKnown is Seasonal.NoteKnown of field f's key.
func (g *SeasonalKeys) NoteKnown(f int, t time.Time, v float64) { g.s.noteKnown(g.keys[f], t, v) }

// Expect is Seasonal.Expect of field f's key.
func (g *SeasonalKeys) Expect(f int, t time.Time) (expected, spread float64, ok bool) {
	return g.s.expectOut(g.keys[f], t)
}

// Deviation is Seasonal.Deviation of field f's key.
func (g *SeasonalKeys) Deviation(f int, t time.Time, v float64) (z, expected float64, ok bool) {
	return g.s.deviation(g.keys[f], t, v)
}

// QuietDeviation is Seasonal.QuietDeviation of field f's key.
func (g *SeasonalKeys) QuietDeviation(f int, t time.Time, v float64) (z, expected float64, ok bool) {
	return g.s.quietDeviation(g.keys[f], t, v)
}

// HourDeviation is Seasonal.HourDeviation of field f's key.
func (g *SeasonalKeys) HourDeviation(f int, t time.Time, v float64) (z, mean float64, n int, ok bool) {
	return g.s.hourDeviation(g.keys[f], t, v)
}

// HourSeen is Seasonal.HourSeen of field f's key.
func (g *SeasonalKeys) HourSeen(f int, t time.Time, z float64, n int) bool {
	return g.s.hourSeen(g.keys[f], t, z, n)
}

// Drift is Seasonal.Drift of field f's key.
func (g *SeasonalKeys) Drift(f int, t time.Time, v float64) (float64, bool) {
	return g.s.driftAt(g.keys[f], t, v)
}

// DriftWith is Drift of field f's key for a caller that has its
// HourDeviation at t already: z and ok as HourDeviation answered.
func (g *SeasonalKeys) DriftWith(f int, t time.Time, z float64, ok bool) (float64, bool) {
	return g.s.driftWith(g.keys[f], t, z, ok)
}

// DriftSeen is Seasonal.DriftSeen of field f's key.
func (g *SeasonalKeys) DriftSeen(f int, t time.Time) bool { return g.s.driftSeen(g.keys[f], t) }

// ResetDrift is Seasonal.ResetDrift of field f's key.
func (g *SeasonalKeys) ResetDrift(f int, t time.Time) { g.s.resetDrift(g.keys[f], t) }

// Threshold is Seasonal.Threshold of the group's model.
func (g *SeasonalKeys) Threshold() float64 { return g.s.threshold }

// Seen is Seasonal.Seen of field f's key.
func (g *SeasonalKeys) Seen(f int, t time.Time, z float64) bool {
	return g.s.seen(g.keys[f], t, z, time.Time{}, time.Time{})
}

// SeenExcept is Seasonal.SeenExcept of field f's key.
func (g *SeasonalKeys) SeenExcept(f int, t time.Time, z float64, from, to time.Time) bool {
	return g.s.seen(g.keys[f], t, z, from, to)
}

// SeenDays is Seasonal.SeenDays of field f's key.
func (g *SeasonalKeys) SeenDays(f int, t time.Time, z float64) int {
	return g.s.seenDays(g.keys[f], t, z, time.Time{}, time.Time{})
}

// SeenDaysExcept is Seasonal.SeenDaysExcept of field f's key.
func (g *SeasonalKeys) SeenDaysExcept(f int, t time.Time, z float64, from, to time.Time) int {
	return g.s.seenDays(g.keys[f], t, z, from, to)
}

// RecentHigh is Seasonal.RecentHigh of field f's key.
func (g *SeasonalKeys) RecentHigh(f int, t time.Time) (high, sameTime float64, ok bool) {
	return g.s.recentHigh(g.keys[f], t)
}

// Track is Seasonal.Track of field f's key.
func (g *SeasonalKeys) Track(f int, t time.Time, v, z, threshold float64) (shifted bool, by float64, run int) {
	return g.s.track(g.keys[f], t, v, z, threshold)
}

// Forget drops every key of the group, and the group; it returns how
// many keys there were.
func (g *SeasonalKeys) Forget() int {
	n := 0
	for f, k := range g.keys {
		if k != nil {
			g.keys[f] = nil
			n++
		}
	}
	g.s.grouped -= n
	if g.s.groups[g.base] == g {
		delete(g.s.groups, g.base)
	}
	return n
}

// Threshold is the deviation, in spreads, at which the configured
// sensitivity calls a value anomalous (SensitivityZ).
func (s *Seasonal) Threshold() float64 { return s.threshold }

// Config is the configuration the baseline was made with.
func (s *Seasonal) Config() SeasonalConfig { return s.cfg }

// Samples is the number of observations learned, over all keys.
func (s *Seasonal) Samples() int { return int(s.samples) }

// Keys is the number of keys with a baseline.
func (s *Seasonal) Keys() int { return len(s.keys) + s.grouped }

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
	k := s.find(key)
	if k == nil {
		k = s.add(key, t)
	}
	s.observe(k, t, v)
}

// observe is Observe of key k, which exists, v a number.
func (s *Seasonal) observe(k *seasonalKey, t time.Time, v float64) {
	v = s.scale(v)
	if !s.enter(k, t) {
		return
	}
	if !s.cfg.WithoutRecent {
		k.extreme(v)
		k.every(v)
	}
	k.welford(v)
	if k.n < math.MaxUint32 {
		k.n++
	}
	s.samples++
}

// Note records value v of key at t among the extremes of its hour without
// learning it: a value judged anomalous stays out of the baseline, but Seen
// still finds it when a like deviation comes again. Keys without a
// baseline are left alone.
func (s *Seasonal) Note(key string, t time.Time, v float64) { s.note(s.find(key), t, v) }

// note is Note of key k, nil when there is none. It returns v in the
// model's space, and whether it was noted.
func (s *Seasonal) note(k *seasonalKey, t time.Time, v float64) (float64, bool) {
	if k == nil || math.IsNaN(v) || math.IsInf(v, 0) || !s.enter(k, t) || s.cfg.WithoutRecent {
		return 0, false
	}
	x := s.scale(v)
	k.extreme(x)
	k.every(x)
	return x, true
}

// NoteKnown is Note for a value beyond the threshold that is the key's
// known behaviour (one as large was seen before, Seen): it stays out of
// the baseline and of its hour's own judgement (HourDeviation), but
// counts in the hour's mean that Drift adds up. Each burst of a bursty
// key can be known while their number is not: bursts in every other
// window all night are no run of hours the key has shown.
func (s *Seasonal) NoteKnown(key string, t time.Time, v float64) { s.noteKnown(s.find(key), t, v) }

// noteKnown is NoteKnown of key k, nil when there is none.
func (s *Seasonal) noteKnown(k *seasonalKey, t time.Time, v float64) {
	if x, ok := s.note(k, t, v); ok && k.hourKnownN < math.MaxUint32 {
		k.hourKnownN++
		k.hourKnownSum += float32(x)
	}
}

// judgedMean is the mean, and count, of the hour in progress's values
// learned or noted as known.
func (k *seasonalKey) judgedMean() (mean, n float64) {
	n = float64(k.hourN) + float64(k.hourKnownN)
	if n == 0 {
		return 0, 0
	}
	return (float64(k.hourMean)*float64(k.hourN) + float64(k.hourKnownSum)) / n, n
}

// every adds v, in the model's space, to the mean of every value of the
// hour in progress.
func (k *seasonalKey) every(v float64) {
	if k.hourAllN < math.MaxUint32 {
		k.hourAllN++
		k.hourAllSum += float32(v)
	}
}

// enter moves key k to the hour of t, closing the hour in progress when t
// lies in a later one. It is false when t lies before the hour in
// progress.
func (s *Seasonal) enter(k *seasonalKey, t time.Time) bool {
	h := int32(absHour(t))
	switch {
	case h < k.bufHour:
		return false
	case h > k.bufHour:
		s.commit(k)
		k.bufHour = h
	}
	k.lastHour = h
	return true
}

// extreme adds v, in the model's space, to the extremes of the hour in
// progress.
func (k *seasonalKey) extreme(v float64) {
	f := float32(v)
	if !k.hourSeen {
		k.hourHi, k.hourLo, k.hourSeen = f, f, true
		return
	}
	k.hourHi, k.hourLo = max(k.hourHi, f), min(k.hourLo, f)
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

// commit closes the hour in progress: its values into its cell, its
// extremes into their slot, and the pooled spreads are refreshed. An hour
// none of whose values was learned, every one noted as anomalous
// (MinHourValues of them at least), keeps a cell of their mean held apart
// (apart): no day's usual level, but what hourBaseline's weekly override
// reads a week later (the first Saturday of a busier weekend is noted,
// not learned; without its cell the next Saturday would look as new).
func (s *Seasonal) commit(k *seasonalKey) {
	if k.hourSeen {
		s.closeDrift(k)
		idx, stamp := recentSlot(int64(k.bufHour))
		s.storeRecent(k, idx, stamp, float64(k.hourHi), float64(k.hourLo))
		s.storeRecentMean(k, idx, k.hourAllN, float64(k.hourAllSum))
		s.storeDayExtremes(k, int64(k.bufHour), float64(k.hourHi), float64(k.hourLo))
		if k.driftReset {
			k.recent.drifted |= 1 << idx
		} else {
			k.recent.drifted &^= 1 << idx
		}
		k.driftReset = false
		k.hourSeen, k.hourHi, k.hourLo = false, 0, 0
		k.meansVar = float32(s.recentMeansVariance(k, int64(k.bufHour)))
	}
	allN, allSum := k.hourAllN, float64(k.hourAllSum)
	k.hourAllN, k.hourAllSum = 0, 0
	k.hourKnownN, k.hourKnownSum = 0, 0
	if k.hourN == 0 {
		if allN >= MinHourValues {
			idx, stamp := cellIndex(int64(k.bufHour))
			s.storeApart(k, s.slot(k, idx), stamp, allSum/float64(allN))
		}
		return
	}
	mean, sd := float64(k.hourMean), 0.0
	if k.hourN >= 2 {
		sd = math.Sqrt(max(float64(k.hourM2), 0) / float64(k.hourN-1))
	}
	idx, stamp := cellIndex(int64(k.bufHour))
	s.store(k, idx, stamp, mean, sd)
	k.hourN, k.hourMean, k.hourM2 = 0, 0, 0
	s.pool(k, int64(k.bufHour))
}

// kept is v, in the model's space, as precisely as the recent extremes
// keep it (LogScale: the fixed point of the cells' means; otherwise
// float32), so that a value compares equal to itself once kept.
func (s *Seasonal) kept(v float64) float64 {
	if s.cfg.LogScale {
		return float64(encodeMean(v)) / logMeanUnit
	}
	return float64(float32(v))
}

// storeRecent writes the stamp and extremes of slot idx.
func (s *Seasonal) storeRecent(k *seasonalKey, idx int, stamp uint8, hi, lo float64) {
	if k.recent == nil {
		k.recent = &recentExtremes{}
	}
	k.recent.stamp[idx] = stamp
	if s.cfg.LogScale {
		k.recent.hi[idx], k.recent.lo[idx] = encodeMean(hi), encodeMean(lo)
		return
	}
	k.lin.recent[2*idx], k.lin.recent[2*idx+1] = float32(hi), float32(lo)
}

// storeDayExtremes keeps the hour that closed, absolute hour h with
// highest and lowest values hi and lo in the model's space, as its day's
// largest rise or fall when it lay farther from its expected value than
// the day's hours before (its own values not yet in the baseline). An
// hour without a baseline, or a model without LogScale, changes nothing.
func (s *Seasonal) storeDayExtremes(k *seasonalKey, h int64, hi, lo float64) {
	if !s.cfg.LogScale {
		return
	}
	b, ok := s.hourBaseline(k, h)
	if !ok {
		return
	}
	idx, stamp := daySlot(dayOf(h))
	r := k.recent
	if r.dayStamp[idx] != stamp {
		r.dayStamp[idx], r.dayHi[idx], r.dayHiAt[idx], r.dayLo[idx], r.dayLoAt[idx] = stamp, 0, 0, 0, 0
	}
	at := encodeMean(b.expected)
	if up := encodeMean(hi); int(up)-int(at) > int(r.dayHi[idx])-int(r.dayHiAt[idx]) {
		r.dayHi[idx], r.dayHiAt[idx] = up, at
	}
	if down := encodeMean(lo); int(at)-int(down) > int(r.dayLoAt[idx])-int(r.dayLo[idx]) {
		r.dayLo[idx], r.dayLoAt[idx] = down, at
	}
}

// daySlot is where the largest deviations of day d (dayOf) live and the
// stamp they carry.
func daySlot(d int64) (idx int, stamp uint8) {
	return int(((d % tailDays) + tailDays) % tailDays), uint8(((d%255)+255)%255 + 1)
}

// minHourMeanValues is how many values an hour needs for its mean to be
// held among the recent hours': half an hour of 5-minute windows.
const minHourMeanValues = 6

// storeRecentMean keeps, in slot idx (its extremes just stored), the
// mean of the n values summing to sum, or marks it absent when n is below
// minHourMeanValues.
func (s *Seasonal) storeRecentMean(k *seasonalKey, idx int, n uint32, sum float64) {
	bit := uint64(1) << idx
	if n < minHourMeanValues {
		k.recent.hasMean &^= bit
		return
	}
	k.recent.hasMean |= bit
	hi, lo := s.recentExtremes(k, idx)
	q := 0.0
	if hi > lo {
		q = math.Round(255 * (sum/float64(n) - lo) / (hi - lo))
	}
	k.recent.mean[idx] = uint8(min(max(q, 0), 255))
}

// recentExtremes returns the extremes held in recent slot idx.
func (s *Seasonal) recentExtremes(k *seasonalKey, idx int) (hi, lo float64) {
	if s.cfg.LogScale {
		return float64(k.recent.hi[idx]) / logMeanUnit, float64(k.recent.lo[idx]) / logMeanUnit
	}
	return float64(k.lin.recent[2*idx]), float64(k.lin.recent[2*idx+1])
}

// recentMean returns the mean of every value of an absolute hour before
// the hour in progress, when its slot holds one.
func (s *Seasonal) recentMean(k *seasonalKey, hour int64) (float64, bool) {
	idx, stamp := recentSlot(hour)
	if k.recentStamp(idx) != stamp || k.recent.hasMean&(1<<idx) == 0 {
		return 0, false
	}
	hi, lo := s.recentExtremes(k, idx)
	return lo + float64(k.recent.mean[idx])/255*(hi-lo), true
}

// minMeanPairs is how many hours of the last day recentMeansVariance needs
// beside the same hour the day before.
const minMeanPairs = 12

// recentMeansVariance is the day-to-day variance of key k's hours' means
// over every value, from the recent hours up to hour last: for each of
// the 24 hours up to last held beside the same hour a day earlier, half
// the squared difference of their means, averaged. It is not robust on
// purpose: a burst that came and went is part of how much an hour's mean
// wanders. 0 with fewer than minMeanPairs such hours.
func (s *Seasonal) recentMeansVariance(k *seasonalKey, last int64) float64 {
	ss, pairs := 0.0, 0
	for h := last; h > last-hoursPerDay; h-- {
		a, ok := s.recentMean(k, h)
		if !ok {
			continue
		}
		b, ok := s.recentMean(k, h-hoursPerDay)
		if !ok {
			continue
		}
		ss += (a - b) * (a - b)
		pairs++
	}
	if pairs < minMeanPairs {
		return 0
	}
	return ss / float64(2*pairs)
}

// recent returns the extremes of an absolute hour when its slot holds it;
// the hour in progress counts once it lies before now.
func (s *Seasonal) recent(k *seasonalKey, hour int64) (hi, lo float64, ok bool) {
	if hour == int64(k.bufHour) {
		return float64(k.hourHi), float64(k.hourLo), k.hourSeen
	}
	idx, stamp := recentSlot(hour)
	if k.recentStamp(idx) != stamp {
		return 0, 0, false
	}
	if s.cfg.LogScale {
		return float64(k.recent.hi[idx]) / logMeanUnit, float64(k.recent.lo[idx]) / logMeanUnit, true
	}
	return float64(k.lin.recent[2*idx]), float64(k.lin.recent[2*idx+1]), true
}

// pool refreshes the pooled spreads of k from the cells of the week up to
// hour last: the median within-hour deviation of every cell, and the
// day-to-day spread of an hour's means around their median, pooled over
// the hours of the day (each deviation corrected by √(m/(m-1)) for an hour
// held on m days, since deviations from a median of few days understate
// the spread). Pooling gives an hour seen on two days the spread the
// whole key has shown, instead of one resting on two samples.
func (s *Seasonal) pool(k *seasonalKey, last int64) {
	var sdBuf [cellsPerKey]float64
	var meanBuf [hoursPerDay][daysKept]float64
	var count [hoursPerDay]int
	sds := sdBuf[:0]
	k.eachWeekCell(last, func(r, hod int, _ int64) {
		if s.apart(k, r) {
			return
		}
		m, sd := s.decodeRank(k, r)
		sds = append(sds, sd)
		meanBuf[hod][count[hod]] = m
		count[hod]++
	})
	if len(sds) == 0 {
		return
	}
	within := selectMedian(sds)
	devs := sdBuf[:0] // sds is no longer needed
	for hod := range hoursPerDay {
		m := count[hod]
		if m < 2 {
			continue
		}
		means := meanBuf[hod][:m]
		med := selectMedian(means)
		c := math.Sqrt(float64(m) / float64(m-1))
		for _, x := range means {
			devs = append(devs, c*math.Abs(x-med))
		}
	}
	between := 0.0
	if len(devs) > 0 {
		between = madToSigma * selectMedian(devs)
	}
	k.pooledWithin, k.pooledBetween = float32(within), float32(between)
}

// selectMedian is Median (the same value to the bit, NaN ordered first as
// slices.Sort orders it) found by selection instead of a sort: pool takes
// the median of up to a week of cells for every key as its hour closes.
// x is reordered, not sorted; a median's sign of zero may differ from
// Median's, which pool's deviations (absolute values) never show.
func selectMedian(x []float64) float64 {
	n := len(x)
	if n == 0 {
		return math.NaN()
	}
	k := n / 2
	selectNth(x, k)
	if n%2 == 1 {
		return x[k]
	}
	below := x[0] // the largest of x[:k], all ordered at or before x[k]
	for _, v := range x[1:k] {
		if cmp.Less(below, v) {
			below = v
		}
	}
	return (below + x[k]) / 2
}

// selectNth reorders x so that x[k] is the value slices.Sort would put
// there, with none after it ordered before it and none before it after
// it (Hoare's selection, median of three pivots, insertion sort for short
// ranges).
func selectNth(x []float64, k int) {
	lo, hi := 0, len(x)-1
	for hi-lo >= 12 {
		mid := lo + (hi-lo)/2
		if cmp.Less(x[mid], x[lo]) {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if cmp.Less(x[hi], x[lo]) {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if cmp.Less(x[hi], x[mid]) {
			x[hi], x[mid] = x[mid], x[hi]
		}
		p := x[mid]
		i, j := lo, hi
		for i <= j {
			for cmp.Less(x[i], p) {
				i++
			}
			for cmp.Less(p, x[j]) {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return // x[j+1:i] are all the pivot's value
		}
	}
	slices.Sort(x[lo : hi+1])
}

// cell returns the cell of an absolute hour when it is still held.
func (s *Seasonal) cell(k *seasonalKey, hour int64) (mean, sd float64, ok bool) {
	idx, stamp := cellIndex(hour)
	r, held := k.rank(idx)
	if !held || uint8(k.cells[r]) != stamp {
		return 0, 0, false
	}
	mean, sd = s.decodeRank(k, r)
	return mean, sd, true
}

// decodeRank returns the mean and deviation of the cell of rank r (0 for
// a cell held apart).
func (s *Seasonal) decodeRank(k *seasonalKey, r int) (mean, sd float64) {
	if s.cfg.LogScale {
		c := k.cells[r]
		return float64(uint16(c>>16)) / logMeanUnit, decodeSD(uint8(c >> 8))
	}
	if sd := float64(k.lin.cells[2*r+1]); sd < 0 {
		return float64(k.lin.cells[2*r]), 0
	}
	return float64(k.lin.cells[2*r]), float64(k.lin.cells[2*r+1])
}

// A cell held apart keeps the mean of an hour that is no day's usual
// level: an hour whose every value was noted as anomalous (commit), or an
// hour of an episode that ended (Track). The days' median and the pooled
// spreads leave it out; last week's same hour, the weekly override of
// hourBaseline, reads it, so an episode that comes again a week later (a
// busier weekend) is last week's behaviour, not news. Its deviation reads
// 0; with LogScale its deviation code is apartSD, otherwise its deviation
// is stored as -1.

// apart reports whether the cell of rank r is held apart.
func (s *Seasonal) apart(k *seasonalKey, r int) bool {
	if s.cfg.LogScale {
		return uint8(k.cells[r]>>8) == apartSD
	}
	return k.lin.cells[2*r+1] < 0
}

// storeApart writes the cell of rank r as held apart, with its day stamp
// and mean.
func (s *Seasonal) storeApart(k *seasonalKey, r int, stamp uint8, mean float64) {
	if s.cfg.LogScale {
		k.cells[r] = packCell(stamp, encodeMean(mean), apartSD)
		return
	}
	k.cells[r] = uint32(stamp)
	k.lin.cells[2*r], k.lin.cells[2*r+1] = float32(mean), -1
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
	return s.expectOut(s.find(key), t)
}

// expectOut is Expect of key k, nil when there is none.
func (s *Seasonal) expectOut(k *seasonalKey, t time.Time) (expected, spread float64, ok bool) {
	m, sp, ok := s.expect(k, t)
	if !ok || !s.cfg.LogScale {
		return m, sp, ok
	}
	return math.Expm1(m), math.Expm1(m+sp) - math.Expm1(m), true
}

// expect is Expect in the model's space.
func (s *Seasonal) expect(k *seasonalKey, t time.Time) (expected, spread float64, ok bool) {
	if k == nil {
		return 0, 0, false
	}
	return s.expectHour(k, absHour(t))
}

// expectHour is the expectation of key k at absolute hour h, in the
// model's space.
//
// The spread of a new value around the median of n days' means has three
// parts: the hour's within-hour deviation, its day-to-day spread, and the
// error of a median of n days (π/2n of the day-to-day variance). With few
// days each is uncertain, so the hour's own figures are shrunk toward the
// key's pooled ones (pool), as if the pooled figure were two more days of
// evidence, and the whole spread is widened by predictiveWidening.
func (s *Seasonal) expectHour(k *seasonalKey, h int64) (expected, spread float64, ok bool) {
	b, ok := s.hourBaseline(k, h)
	return b.expected, b.spread, ok
}

// hourBaseline is the baseline of key k at absolute hour h (expectHour),
// with the parts its spread is made of.
type hourBaseline struct {
	expected, spread float64
	// within2 and between2 are the hour's within-hour and day-to-day
	// variances, shrunk toward the pooled ones; days is how many days
	// cover the hour, n how many cells.
	within2, between2 float64
	days, n           int
	// meansVar is the key's meansVar, or between2 when larger.
	meansVar float64
	// weekly is set when last week's same hour replaced the median of the
	// days as the baseline.
	weekly bool
}

// hourBaseline computes expectHour's answer and its parts.
func (s *Seasonal) hourBaseline(k *seasonalKey, h int64) (b hourBaseline, ok bool) {
	if uint64(k.n) < uint64(max(s.cfg.MinSamples, 1)) {
		return b, false
	}
	var medBuf, spreadBuf [3 * daysKept]float64
	meds, spreads := medBuf[:0], spreadBuf[:0]
	var covered [daysKept + 1]bool
	gather := func(offset int64) {
		// The same hour of each of the seven days before: one column, and
		// one day stamp, back per day.
		idx, stamp := cellIndex(h - hoursPerDay + offset)
		hod, col := idx/daysKept, idx%daysKept
		r0, held := k.row(hod)
		for d := 1; d <= daysKept; d++ {
			if held&(1<<col) != 0 {
				// Stamps are never 0: an empty cell matches none.
				r := r0 + bits.OnesCount8(held&(1<<col-1))
				if uint8(k.cells[r]) == stamp && !s.apart(k, r) {
					m, sp := s.decodeRank(k, r)
					meds = append(meds, m)
					spreads = append(spreads, sp)
					covered[d] = true
				}
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
		return b, false
	}
	n := float64(len(meds))
	pw, pb := float64(k.pooledWithin), float64(k.pooledBetween)
	within := Median(spreads)
	within2 := (n*within*within + shrinkDays*pw*pw) / (n + shrinkDays)
	between2 := pb * pb
	expected := Median(meds) // sorts meds
	var between float64
	if len(meds) >= 3 {
		for i, m := range meds {
			spreads[i] = math.Abs(m - expected)
		}
		between = madToSigma * Median(spreads[:len(meds)])
		between2 = (n*between*between + shrinkDays*pb*pb) / (n + shrinkDays)
	}
	b.within2, b.between2, b.days, b.n = within2, between2, days, len(meds)
	b.meansVar = max(float64(k.meansVar), between2)
	spread := math.Sqrt(within2+between2*(1+math.Pi/(2*n))) * predictiveWidening(days)
	spread = max(spread, s.floor(expected))
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
			expected, b.weekly = wm, true
			spread = max(spread+math.Sqrt(3)*ws/max(s.threshold, 1), s.floor(wm))
		case math.Abs(wm-expected) > weeklyDeparture*spread:
			expected, b.weekly = wm, true
			spread = max(math.Hypot(ws, math.Sqrt(between2)), s.floor(wm))
		}
	}
	b.expected, b.spread = expected, spread
	return b, true
}

// shrinkDays is the weight, in days of evidence, of a key's pooled spreads
// when an hour's own are shrunk toward them.
const shrinkDays = 2

// predictiveWidening is the factor by which the spread of an hour known on
// days days is widened, relative to one known on a full week: the width of
// a predictive interval when the mean and the spread are both estimated
// from that many days, √((1+2/days)/(1+2/7)). Two days give 1.25, three
// 1.14, a week 1: a new install's first judged day asks for more before it
// alerts than a model that has seen the week.
func predictiveWidening(days int) float64 {
	if days >= fullWeek {
		return 1
	}
	return math.Sqrt((1 + 2/float64(days)) / (1 + 2/float64(fullWeek)))
}

// Deviation returns how many spreads v lies from the expected value of key
// at t, (v-expected)/spread, positive above, and the expected value. With
// LogScale both v and the expectation are taken as log(1+x).
func (s *Seasonal) Deviation(key string, t time.Time, v float64) (z, expected float64, ok bool) {
	return s.deviation(s.find(key), t, v)
}

// deviation is Deviation of key k, nil when there is none.
func (s *Seasonal) deviation(k *seasonalKey, t time.Time, v float64) (z, expected float64, ok bool) {
	m, spread, ok := s.expect(k, t)
	if !ok || math.IsNaN(v) {
		return 0, 0, false
	}
	z = (s.scale(v) - m) / spread
	if s.cfg.LogScale {
		m = math.Expm1(m)
	}
	return z, m, true
}

// HourDeviation judges the hour of t as a whole so far: how many spreads
// of an hour's mean the mean of key's values learned in that hour, v
// included, lies from the hour's baseline, that mean (in the values' own
// scale), and how many values it holds.
//
// A departure too small for any one window to alert (a CPU running a
// tenth hotter for two hours, a service sending a third less all
// afternoon) shows in the mean: the mean of N windows of an hour wanders
// by the within-hour deviation over √N, and from day to day by the
// day-to-day spread of the hours' means, which no number of windows
// averages away. The spread of the mean is therefore
// √(between²·(1+π/2n) + within²/N), widened as a window's is while few
// days are known. within² is the window's shrunk within-hour variance
// (expectHour); between² is the day-to-day variance of the hours' means
// over every value, noted ones included (recentMeansVariance), or the
// cells' when larger. The cells hold only values learned, so on a bursty
// key their hours' means look calmer than the hours were: a burst judged
// anomalous on its own still moved its hour's mean, and an hour's mean
// judged against the calmer figure would alert on what the key does every
// day. The hour's own mean, on the other hand, holds only the values
// learned, so a window that alerted alone is not alerted again by the
// hour it pulls up, and one that is known behaviour (NoteKnown) is not
// news in its hour either: how many such windows a run of hours holds
// is Drift's to judge. A fall is the plain deviation from the hour's own
// baseline or from the same hour yesterday, whichever is nearer, at the
// hour's last window once the hour is known on each of the seven days
// before, and 0 otherwise (hourZ): an hour's mean well below its usual
// level is also what a first quiet weekend looks like, and part of an
// hour is below its usual mean until a job late in the hour has run.
//
// ok is false while the hour holds fewer than MinHourValues values (a
// mean of one or two is a window's own judgement), while the hour has no
// baseline, when its baseline is last week's same hour (a weekly job's
// hour is judged by its windows alone), and until minMeanPairs hours of
// the last day have a mean beside the same hour the day before.
func (s *Seasonal) HourDeviation(key string, t time.Time, v float64) (z, mean float64, n int, ok bool) {
	return s.hourDeviation(s.find(key), t, v)
}

// MinHourValues is how many values of an hour HourDeviation needs.
const MinHourValues = 3

// hourDeviation is HourDeviation of key k, nil when there is none.
func (s *Seasonal) hourDeviation(k *seasonalKey, t time.Time, v float64) (z, mean float64, n int, ok bool) {
	if k == nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, 0, 0, false
	}
	h := absHour(t)
	x, count := s.scale(v), 1.0
	if int64(k.bufHour) == h && k.hourN > 0 {
		count = float64(k.hourN) + 1
		x = float64(k.hourMean) + (x-float64(k.hourMean))/count
	}
	if count < MinHourValues || k.meansVar <= 0 {
		return 0, 0, 0, false
	}
	b, ok := s.hourBaseline(k, h)
	if !ok || b.weekly {
		return 0, 0, 0, false
	}
	// The window at t is the hour's last: its mean is the whole hour's.
	complete := s.cfg.Bucket <= 0 || absHour(t.Add(s.cfg.Bucket)) > h
	z = s.hourZ(k, h, b, x, count, complete)
	if s.cfg.LogScale {
		x = math.Expm1(x)
	}
	return z, x, int(count), true
}

// hourZ is how many spreads of a mean of count values key k's mean x (in
// the model's space) of absolute hour h lies from its baseline b;
// complete says the mean is of the whole hour. A fall counts only on a
// whole hour (an hour whose traffic comes in its second half, a job at
// :30, is below its usual mean until then) and once the hour is known on
// each of the seven days before (b.days is fullWeek): until then an
// hour's mean well below its usual level is also what a first quiet
// weekend looks like. Otherwise it is 0. Last week's same hour stands in
// for the days' median where the week has a pattern of its own
// (hourBaseline), and a fall is measured from the same hour yesterday too
// (the mean of every value it saw), whichever is nearer: the median of
// seven days takes four to follow a level that stepped down, and a level
// that was as low a day ago is no new fall.
func (s *Seasonal) hourZ(k *seasonalKey, h int64, b hourBaseline, x, count float64, complete bool) float64 {
	spread := s.meanSpread(b, count)
	z := (x - b.expected) / spread
	if z >= 0 {
		return z
	}
	if !complete || b.days < fullWeek {
		return 0
	}
	if y, ok := s.recentMean(k, h-hoursPerDay); ok {
		z = max(z, min((x-y)/spread, 0))
	}
	return z
}

// DriftReference is the reference value k of Drift's CUSUM, in spreads of
// an hour's mean: half the smallest sustained rise it is built to find
// quickly, two spreads.
const DriftReference = 1.0

// closeDrift adds the hour in progress, as it closes, to key k's drifts:
// its mean of the values learned and of those noted as known (NoteKnown),
// in spreads of an hour's mean from its baseline (HourDeviation), less
// DriftReference, floored at 0, to the upper one, and the same below to
// the lower one. Known values count here, and not in HourDeviation: each
// burst of a bursty key can be known while their number is not, and a
// night of bursts in every other window, none higher than before, is no
// run of hours the key has shown. An hour counts as at most the
// threshold, on either side: an hour farther out is HourDeviation's to
// judge, and one holding a single known burst is that burst again, not a
// run of hours. An hour that cannot be judged (too few values, no
// baseline) counts as a usual one.
func (s *Seasonal) closeDrift(k *seasonalKey) {
	z := 0.0
	if jm, jn := k.judgedMean(); jn >= MinHourValues && k.meansVar > 0 {
		if b, ok := s.hourBaseline(k, int64(k.bufHour)); ok && !b.weekly {
			z = s.hourZ(k, int64(k.bufHour), b, jm, jn, true)
			z = max(min(z, s.threshold), -s.threshold)
		}
	}
	k.drift = float32(max(float64(k.drift)+z-DriftReference, 0))
	k.driftDown = float32(max(float64(k.driftDown)-z-DriftReference, 0))
}

// Drift is how far key's hours up to t have risen or fallen together:
// two one-sided CUSUMs (Page's) of the hours' means, each in spreads of
// an hour's mean from its baseline (HourDeviation) less DriftReference,
// floored at 0, with the hour in progress counted so far when it holds
// MinHourValues values or more (v, the value at t, included). A CPU
// running a tenth hotter for three hours, each hour 2 to 3 spreads of an
// hour's mean above its usual level, adds up to more than any one hour
// shows; so does a service answering a third of its usual traffic all
// afternoon, each window within its own spread. An ordinary day's hours,
// as often below their usual level as above, keep both near 0. The
// larger of the two is returned, negative when it is the fall; falls
// count once the hour's week is known (HourDeviation). ok is false while
// the key has no recent hours' means. Compare its size with
// DriftThreshold.
func (s *Seasonal) Drift(key string, t time.Time, v float64) (drift float64, ok bool) {
	return s.driftAt(s.find(key), t, v)
}

// driftAt is Drift of key k, nil when there is none.
func (s *Seasonal) driftAt(k *seasonalKey, t time.Time, v float64) (float64, bool) {
	if k == nil || k.meansVar <= 0 {
		return 0, false
	}
	z, _, _, ok := s.hourDeviation(k, t, v)
	return s.driftWith(k, t, z, ok)
}

// driftWith is Drift of key k, given HourDeviation's z and ok for the
// same t and value.
func (s *Seasonal) driftWith(k *seasonalKey, t time.Time, z float64, ok bool) (float64, bool) {
	if k == nil || k.meansVar <= 0 {
		return 0, false
	}
	up, down := float64(k.drift), float64(k.driftDown)
	if absHour(t) != int64(k.bufHour) {
		// The hour in progress closes before t: it counts as it will.
		if k.hourSeen && absHour(t) > int64(k.bufHour) {
			c := *k
			s.closeDrift(&c)
			up, down = float64(c.drift), float64(c.driftDown)
		}
	} else if ok {
		up, down = max(up+z-DriftReference, 0), max(down-z-DriftReference, 0)
	}
	if down > up {
		return -down, true
	}
	return up, true
}

// ResetDrift restarts key's drifts from 0 at t: the caller alerted on one
// (or found it seen), and the run of hours it added up is one episode.
// The hour of t remembers the restart for DriftSeen.
func (s *Seasonal) ResetDrift(key string, t time.Time) { s.resetDrift(s.find(key), t) }

// resetDrift is ResetDrift of key k, nil when there is none.
func (s *Seasonal) resetDrift(k *seasonalKey, t time.Time) {
	if k == nil || !s.enter(k, t) {
		return
	}
	k.drift, k.driftDown, k.driftReset = 0, 0, true
}

// DriftSeen reports whether key's drift was restarted (ResetDrift) in
// the 48 hours before the hour of t, or earlier in the hour of t: a rise
// that goes on, or comes back every other day, alerts once.
func (s *Seasonal) DriftSeen(key string, t time.Time) bool { return s.driftSeen(s.find(key), t) }

// driftSeen is DriftSeen of key k, nil when there is none.
func (s *Seasonal) driftSeen(k *seasonalKey, t time.Time) bool {
	if k == nil {
		return false
	}
	h := absHour(t)
	if int64(k.bufHour) == h && k.driftReset {
		return true
	}
	if k.recent == nil || k.recent.drifted == 0 {
		return false
	}
	for hh := h - recentHours; hh < h; hh++ {
		idx, stamp := recentSlot(hh)
		if k.recent.stamp[idx] == stamp && k.recent.drifted&(1<<idx) != 0 {
			return true
		}
	}
	return false
}

// DriftThreshold is the drift at which Drift alerts for a detector that
// alerts on a window beyond threshold spreads, windows bucket long: the
// CUSUM's run length between false alarms on usual hours (Siegmund's
// approximation, (e^{2kb} - 2kb - 1)/2k² hours with b = h + 1.166) equals
// the windows' own, 1/P(Z > threshold) windows. At Calico's default
// sensitivity (5.18 spreads) and 5-minute windows that is 5.9. It holds
// for each side: a volume's windows alert on both sides, at
// P(|Z| > threshold), twice the rate of one, as its two CUSUMs together
// do.
func DriftThreshold(threshold float64, bucket time.Duration) float64 {
	perHour := float64(time.Hour) / float64(max(bucket, time.Minute))
	arl := 1 / max(distuv.UnitNormal.Survival(threshold), 1e-300) / perHour
	k := DriftReference
	run := func(b float64) float64 { return (math.Exp(2*k*b) - 2*k*b - 1) / (2 * k * k) }
	lo, hi := 0.0, 1.0
	for run(hi) < arl && hi < 400 {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if run(mid) < arl {
			lo = mid
		} else {
			hi = mid
		}
	}
	return max(hi-1.166, k)
}

// meanSpread is the spread of the mean of count values of an hour with
// baseline b (HourDeviation); the floor of a single value shrinks as a
// mean's spread does.
func (s *Seasonal) meanSpread(b hourBaseline, count float64) float64 {
	sp := math.Sqrt(b.meansVar*(1+math.Pi/(2*float64(b.n)))+b.within2/count) * predictiveWidening(b.days)
	return max(sp, s.floor(b.expected)/math.Sqrt(count))
}

// HourSeen is Seen for HourDeviation: whether one of the 48 hours before
// the hour of t held a mean at least z spreads of a mean of n values from
// today's baseline for its hour of the day, on the same side, or, at an
// hour usually no busier than t's (no quieter, for a fall), a mean that
// reached as far as the mean of t's hour does (to the precision the
// recent means are kept to). An hour that runs hot every other afternoon
// is part of the key's behaviour, and so is a level that changed a few
// hours ago: its hours' means are the same from hour to hour, though the
// hours' baselines differ a little.
func (s *Seasonal) HourSeen(key string, t time.Time, z float64, n int) bool {
	return s.hourSeen(s.find(key), t, z, n)
}

// hourSeen is HourSeen of key k, nil when there is none.
func (s *Seasonal) hourSeen(k *seasonalKey, t time.Time, z float64, n int) bool {
	return s.hourSeenBy(k, t, z, n, true)
}

// hourSeenBy is hourSeen, the second measure (the mean reached at an hour
// no busier) taken only with atHour.
func (s *Seasonal) hourSeenBy(k *seasonalKey, t time.Time, z float64, n int, atHour bool) bool {
	if k == nil || z == 0 || math.IsNaN(z) || n < 1 {
		return false
	}
	h := absHour(t)
	var base [hoursPerDay]struct {
		b            hourBaseline
		done, usable bool
	}
	// The mean of t's hour, in the model's space, and how busy the hour
	// usually is.
	now, nowOK := s.hourBaseline(k, h)
	nowOK = nowOK && atHour
	x := 0.0
	if nowOK {
		x = now.expected + z*s.meanSpread(now, float64(n))
	}
	for hh := h - recentHours; hh < h; hh++ {
		m, ok := s.recentMean(k, hh)
		if !ok {
			continue
		}
		at := hh + hoursPerDay*((h-hh+hoursPerDay-1)/hoursPerDay)
		c := &base[at-dayOf(at)*hoursPerDay]
		if !c.done {
			c.b, c.usable = s.hourBaseline(k, at)
			c.done = true
		}
		if !c.usable {
			continue
		}
		past := (m - c.b.expected) / s.meanSpread(c.b, float64(n))
		if z > 0 && past >= z || z < 0 && past <= z {
			return true
		}
		if !nowOK {
			continue
		}
		// A recent mean is kept to 1/510 of its hour's range, from
		// extremes kept as precisely as kept keeps a value.
		hi, lo := s.recentExtremes(k, recentIndex(hh))
		quantum := (hi - lo) / 510
		if z > 0 && c.b.expected <= now.expected+now.spread && s.kept(m+quantum) >= s.kept(x) ||
			z < 0 && c.b.expected >= now.expected-now.spread && s.kept(m-quantum) <= s.kept(x) {
			return true
		}
	}
	return false
}

// recentIndex is the recent slot of an absolute hour.
func recentIndex(hour int64) int {
	idx, _ := recentSlot(hour)
	return idx
}

// QuietDeviation is Deviation measured from the quietest hour of key's day
// instead of the hour of t: the lowest expected value among today's
// baselines of the 24 hours of the day, and its spread. A fall that stays
// within what the key shows in its quiet hours (nights, a first weekend
// still unknown to the weekly pattern) is part of its range; one below
// that is not.
func (s *Seasonal) QuietDeviation(key string, t time.Time, v float64) (z, expected float64, ok bool) {
	return s.quietDeviation(s.find(key), t, v)
}

// quietDeviation is QuietDeviation of key k, nil when there is none.
func (s *Seasonal) quietDeviation(k *seasonalKey, t time.Time, v float64) (z, expected float64, ok bool) {
	if k == nil || math.IsNaN(v) {
		return 0, 0, false
	}
	h := absHour(t)
	low, spread := math.Inf(1), 0.0
	for hh := h; hh < h+hoursPerDay; hh++ {
		if m, sp, ok := s.expectHour(k, hh); ok && m < low {
			low, spread = m, sp
		}
	}
	if math.IsInf(low, 1) {
		return 0, 0, false
	}
	z = (s.scale(v) - low) / spread
	if s.cfg.LogScale {
		low = math.Expm1(low)
	}
	return z, low, true
}

// Seen reports whether key showed a deviation at least as large as z, on
// the same side, in one of the 48 hours before the hour of t (not the hour
// of t itself): each of those hours' highest and lowest values is judged
// against today's baseline for its hour of the day, and, where that hour
// is usually no busier than the hour of t (no quieter, for a fall: its
// expected value at most one spread of t's hour above, or below), against
// the baseline of the hour of t too. A key's own recurring oddity (a
// backup burst, a sparse job, a metric that dips every few hours) is then
// a known part of its behaviour, and only something new alerts; a
// deviation larger than any recent one still does. The second measure is
// for a spike that wanders across the day: the hours it hit learned part
// of it, so it lay fewer of their spreads out than it does at an hour it
// never hit, yet the same value at an hour as quiet is no news.
//
// A deviation as many spreads out at another hour is no cover for a new
// high: the value itself must have been reached in those 48 hours, to
// within the model's noise floor at that value (floor: the counting noise
// of a count, 5% of a level), below for a fall. A CPU that spikes to 70%
// at quiet hours and now reaches 100% at a busy one lies no more spreads
// out than its nightly spikes did, but it has never been there. The same
// value at an hour usually no busier counts to within that floor too: a
// nightly job a few percent heavier than last night's is the same job,
// though it lies a little farther out than last night's did.
func (s *Seasonal) Seen(key string, t time.Time, z float64) bool {
	return s.seen(s.find(key), t, z, time.Time{}, time.Time{})
}

// SeenExcept is Seen not counting the hours from the hour of from to the
// hour of to (none when to is zero): the windows a departure held back
// before alerting (a fall alerts once it has lasted a quarter of an
// hour), which are no evidence of the departure itself. A fall that
// starts at five to the hour would otherwise find its own first window
// in the hour before, as deep as itself, and never alert.
func (s *Seasonal) SeenExcept(key string, t time.Time, z float64, from, to time.Time) bool {
	return s.seen(s.find(key), t, z, from, to)
}

// seen is SeenExcept of key k, nil when there is none.
func (s *Seasonal) seen(k *seasonalKey, t time.Time, z float64, from, to time.Time) bool {
	return s.seenBy(k, t, z, true, heldHours(from, to))
}

// heldRange is a span of absolute hours, both ends included; empty when
// last < first.
type heldRange struct{ first, last int64 }

// heldHours is the hours from the hour of from to the hour of to, empty
// when to is zero.
func heldHours(from, to time.Time) heldRange {
	if to.IsZero() {
		return heldRange{0, -1}
	}
	return heldRange{absHour(from), absHour(to)}
}

// has reports whether hour lies in r.
func (r heldRange) has(hour int64) bool { return hour >= r.first && hour <= r.last }

// seenBy is seen, the second measure (against the baseline of the hour of
// t) taken only with atHour, the hours of held not counted.
func (s *Seasonal) seenBy(k *seasonalKey, t time.Time, z float64, atHour bool, held heldRange) bool {
	if k == nil || z == 0 || math.IsNaN(z) {
		return false
	}
	h := absHour(t)
	var base [hoursPerDay]struct {
		m, spread    float64
		done, usable bool
	}
	// The baseline of the hour of t: a value at least as far out, seen at
	// an hour usually no busier (no quieter, for a fall), counts too.
	now, nowSpread, nowOK := 0.0, 0.0, false
	if atHour {
		now, nowSpread, nowOK = s.expectHour(k, h)
	}
	asFar := false   // as many spreads out at one of the hours
	reached := false // the value itself, to within the noise floor
	for hh := h - recentHours; hh < h; hh++ {
		hi, lo, ok := s.recent(k, hh)
		if !ok || held.has(hh) {
			continue
		}
		// The hour reached the value at t, to within the noise floor.
		x := now + z*nowSpread
		near := nowOK && (z > 0 && s.kept(hi+s.floor(hi)) >= s.kept(x) || z < 0 && s.kept(lo-s.floor(lo)) <= s.kept(x))
		reached = reached || near
		// The same hour of the day at or after h: today's baseline for it.
		at := hh + hoursPerDay*((h-hh+hoursPerDay-1)/hoursPerDay)
		b := &base[at-dayOf(at)*hoursPerDay]
		if !b.done {
			b.m, b.spread, b.usable = s.expectHour(k, at)
			b.done = true
		}
		if !b.usable {
			continue
		}
		if z > 0 && (hi-b.m)/b.spread >= z || z < 0 && (lo-b.m)/b.spread <= z {
			asFar = true
		}
		if near && (z > 0 && b.m <= now+nowSpread || z < 0 && b.m >= now-nowSpread) {
			return true
		}
	}
	return asFar && (reached || !nowOK)
}

// SeenDays is on how many of the seven days before the day of t (UTC) key
// showed a deviation at least as large as z, on the same side, as Seen
// measures one: each day keeps its largest rise and fall (the hour whose
// highest value lay farthest above its expected value when the hour
// closed, and the one whose lowest lay farthest below), learned values
// and noted ones alike. A day counts when that departure was at least z
// spreads of the baseline of t's hour and reached t's value to within
// the noise floor (a new high is news), or when it reached the same value
// (to within the same floor) at an hour usually no busier than t's (no
// quieter, for a fall). Seen looks back 48 hours; a key that spikes every
// few days at any hour (a batch transfer, a bursty disk) shows the same
// spike on several days of the week, and that is its behaviour too. A
// deviation once in the week is an event, so callers ask for two days or
// more. 0 for a model without LogScale.
func (s *Seasonal) SeenDays(key string, t time.Time, z float64) int {
	return s.seenDays(s.find(key), t, z, time.Time{}, time.Time{})
}

// SeenDaysExcept is SeenDays not counting the days that hold the hours
// from the hour of from to the hour of to (none when to is zero), as
// SeenExcept: a departure's held windows before midnight are no evidence
// of it.
func (s *Seasonal) SeenDaysExcept(key string, t time.Time, z float64, from, to time.Time) int {
	return s.seenDays(s.find(key), t, z, from, to)
}

// seenDays is SeenDaysExcept of key k, nil when there is none.
func (s *Seasonal) seenDays(k *seasonalKey, t time.Time, z float64, from, to time.Time) int {
	if k == nil || k.recent == nil || !s.cfg.LogScale || z == 0 || math.IsNaN(z) {
		return 0
	}
	now, spread, ok := s.expect(k, t)
	if !ok {
		return 0
	}
	x := encodeMean(now + z*spread)
	r := k.recent
	today := dayOf(absHour(t))
	n := 0
	held := heldHours(from, to)
	for d := today - daysKept; d < today; d++ {
		idx, stamp := daySlot(d)
		if r.dayStamp[idx] != stamp || held.last >= held.first && dayOf(held.last) >= d && dayOf(held.first) <= d {
			continue
		}
		var went float64 // how far the day went on z's side
		var reached bool // to x, within the noise floor
		var same bool    // it reached x at an hour no busier (quieter)
		if z > 0 {
			hi, at := float64(r.dayHi[idx])/logMeanUnit, float64(r.dayHiAt[idx])/logMeanUnit
			reached = encodeMean(hi+s.floor(hi)) >= x
			went, same = hi-at, reached && at <= now+spread
		} else {
			lo, at := float64(r.dayLo[idx])/logMeanUnit, float64(r.dayLoAt[idx])/logMeanUnit
			reached = encodeMean(lo-s.floor(lo)) <= x
			went, same = at-lo, reached && at >= now-spread
		}
		if went > 0 && (went/spread >= math.Abs(z) && reached || same) {
			n++
		}
	}
	return n
}

// RecentHigh is the highest value key showed in the 48 hours before the
// hour of t (not that hour itself), learned or noted, in the values' own
// scale, and the highest of those at the same time of day as t (the hour
// of t and the ones either side, a day and two days before): what a job
// that runs at that time reached on its last runs. ok is false when none
// of the 48 hours is held.
func (s *Seasonal) RecentHigh(key string, t time.Time) (high, sameTime float64, ok bool) {
	return s.recentHigh(s.find(key), t)
}

// recentHigh is RecentHigh of key k, nil when there is none.
func (s *Seasonal) recentHigh(k *seasonalKey, t time.Time) (high, sameTime float64, ok bool) {
	if k == nil {
		return 0, 0, false
	}
	h := absHour(t)
	high, sameTime = math.Inf(-1), math.Inf(-1)
	for hh := h - recentHours; hh < h; hh++ {
		hi, _, held := s.recent(k, hh)
		if !held {
			continue
		}
		high, ok = max(high, hi), true
		if d := (h - hh) % hoursPerDay; d <= 1 || d == hoursPerDay-1 {
			sameTime = max(sameTime, hi)
		}
	}
	if !ok {
		return 0, 0, false
	}
	if s.cfg.LogScale {
		high, sameTime = math.Expm1(high), math.Expm1(sameTime)
	}
	return high, max(sameTime, 0), true
}

// Track follows key's departures from its baseline to tell a new level
// from an anomaly: v at t, its deviation z in spreads, threshold the
// deviation that alerts. run is how many windows in a row, this one
// included, lay beyond threshold on the side of z (0 when v is within
// it): how long an anomaly has lasted.
//
// A level change is found by a one-sided CUSUM on each side (Page's
// cumulative sum, the standard test for a lasting shift of a mean): a
// departure starts when |z| exceeds the reference value threshold/2 (half
// the smallest shift that alerts, the textbook choice for detecting it),
// and its statistic S grows by |z| - threshold/2 each window on that
// side, so values that stay past half the threshold keep it going
// whether or not each one alerts, and values back near the baseline wear
// it down. S is capped at levelShiftCap reference values: a burst, however
// large, is forgotten after about half an hour back at the usual level
// instead of being carried for hours. Once one departure has lasted
// LevelShiftAfter, the key's level has changed: every cell held before it
// began moves by its mean residual, so the new level is the baseline from
// then on with the daily pattern kept, and Track reports the move (in the
// model's space: a difference of logarithms with LogScale). A level that
// settles just under the threshold (a quantised count at +4 spreads where
// 5 alert) moves too, instead of sitting near the alert bound for days.
//
// A change the other way within a week of the last one ends an episode,
// not a level: a weekend, or a day of maintenance. The cells held before
// the last change began move by the new change, so they follow the level
// as before, but the episode's own cells, from the last change's start to
// this one's, keep what they held and are held apart (apart): left out of
// the days' median, read by the weekly override of hourBaseline a week
// later. Moving them too would put the first weekend back at the weekday
// level on Monday, and the next Saturday, finding no weekend in last
// week's cells, would be a level change again, every week. The last change is not saved with the model: a
// model read back treats its next change as a first one.
func (s *Seasonal) Track(key string, t time.Time, v, z, threshold float64) (shifted bool, by float64, run int) {
	return s.track(s.find(key), t, v, z, threshold)
}

// track is Track of key k, nil when there is none.
func (s *Seasonal) track(k *seasonalKey, t time.Time, v, z, threshold float64) (shifted bool, by float64, run int) {
	if k == nil || math.IsNaN(z) {
		return false, 0, 0
	}
	sign := int32(1)
	if z < 0 {
		sign = -1
	}
	if math.Abs(z) >= threshold {
		if k.streak*sign <= 0 {
			k.streak = 0
		}
		if k.streak*sign < math.MaxInt32-1 {
			k.streak += sign
		}
		run = int(k.streak * sign)
	} else {
		k.streak = 0
	}
	ref := threshold / 2
	if k.shiftN == 0 && !(math.Abs(z) > ref) {
		return false, 0, run
	}
	m, _, ok := s.expectHour(k, absHour(t))
	if !ok {
		k.shiftN, k.shiftS, k.shiftSum = 0, 0, 0
		return false, 0, run
	}
	res := s.scale(v) - m
	if k.shiftN != 0 {
		side := float64(1)
		if k.shiftN < 0 {
			side = -1
		}
		k.shiftS = float32(min(float64(k.shiftS)+side*z-ref, levelShiftCap*ref))
		if k.shiftS <= 0 {
			k.shiftN, k.shiftS, k.shiftSum = 0, 0, 0
		} else if k.shiftN*int32(side) < math.MaxInt32-1 {
			k.shiftN += int32(side)
			k.shiftSum += float32(res)
		}
	}
	if k.shiftN == 0 && math.Abs(z) > ref {
		k.shiftN, k.shiftS, k.shiftSum = sign, float32(math.Abs(z)-ref), float32(res)
	}
	n := k.shiftN
	if n < 0 {
		n = -n
	}
	if s.cfg.LevelShiftAfter <= 0 || s.cfg.Bucket <= 0 || time.Duration(n)*s.cfg.Bucket < s.cfg.LevelShiftAfter {
		return false, 0, run
	}
	by = float64(k.shiftSum) / float64(n)
	began := absHour(t.Add(-time.Duration(n-1) * s.cfg.Bucket))
	from := began
	if last := int64(k.lastShiftAt); k.lastShiftBy != 0 && (by > 0) != (k.lastShiftBy > 0) && last > began-daysKept*hoursPerDay {
		// A departure the other way within the week of the last change
		// ends an episode (a weekend, a day of maintenance): the hours
		// before that change follow the level, the episode's own hours
		// keep what they held, so the same hours next week find it
		// (hourBaseline's weekly override).
		from = last
		s.holdApart(k, last, began)
	}
	s.shiftBefore(k, from, by)
	k.lastShiftAt, k.lastShiftBy = int32(began), float32(by)
	k.streak, k.shiftN, k.shiftS, k.shiftSum = 0, 0, 0, 0
	return true, by, run
}

// levelShiftCap bounds a departure's CUSUM statistic, in reference values
// (Track): six windows back at the usual level end any departure.
const levelShiftCap = 6

// shiftBefore moves by d, in the model's space, every cell of k holding an
// hour before absolute hour began. The cells of the hours since then
// already learned the new level from the values within the threshold.
func (s *Seasonal) shiftBefore(k *seasonalKey, began int64, d float64) {
	k.eachWeekCell(began-1, func(r, _ int, _ int64) {
		m, sd := s.decodeRank(k, r)
		if s.apart(k, r) {
			s.storeApart(k, r, uint8(k.cells[r]), m+d)
			return
		}
		s.storeRank(k, r, uint8(k.cells[r]), m+d, sd)
	})
}

// holdApart holds apart (apart) every cell of k holding an hour from
// absolute hour from to the hour before to.
func (s *Seasonal) holdApart(k *seasonalKey, from, to int64) {
	k.eachWeekCell(to-1, func(r, _ int, hour int64) {
		if hour >= from {
			m, _ := s.decodeRank(k, r)
			s.storeApart(k, r, uint8(k.cells[r]), m)
		}
	})
}

// Forget drops key's baseline; it reports whether there was one.
func (s *Seasonal) Forget(key string) bool {
	if _, ok := s.keys[key]; ok {
		delete(s.keys, key)
		return true
	}
	base, f, ok := s.split(key)
	if !ok {
		return false
	}
	g := s.groups[base]
	if g == nil || g.keys[f] == nil {
		return false
	}
	g.keys[f] = nil
	s.grouped--
	if g.empty() {
		delete(s.groups, base)
	}
	return true
}

// Group returns the group of keys of entity base (SetFields), nil when it
// has none; unlike Entity it makes none.
func (s *Seasonal) Group(base string) *SeasonalKeys { return s.groups[base] }

// ForgetField drops the key of field (SetFields) of every entity; it
// returns how many there were. The groups are stale after it.
func (s *Seasonal) ForgetField(field string) int {
	f, ok := s.fieldOf[field]
	if !ok {
		return 0
	}
	n := 0
	for base, g := range s.groups {
		if g.keys[f] != nil {
			g.keys[f] = nil
			n++
			if g.empty() {
				delete(s.groups, base)
			}
		}
	}
	s.grouped -= n
	return n
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
	for base, g := range s.groups {
		n := 0
		for f, k := range g.keys {
			if k != nil && int64(k.lastHour) < cut {
				g.keys[f] = nil
				n++
			}
		}
		s.grouped -= n
		removed += n
		if n > 0 && g.empty() {
			delete(s.groups, base)
		}
	}
	return removed
}

// Binary format: magic, version, then (version 2 on) the cell encoding (1
// for LogScale's packed cells, 0 for float32), the keys in sorted order,
// then a CRC-32 (IEEE) of everything before it. All integers little
// endian. Version 3 adds to each key the extremes of the hour in progress
// and of the last 48 hours, the pooled spreads and the run beyond the
// threshold. Version 4 holds the same figures in less room: each key's
// name as the length of the prefix it shares with the one before and the
// rest (uvarints), and its cells and recent hours as a bitmap of the ones
// held followed by those, without an index byte each. Version 5 replaces
// the run's residual sum with the level-shift departure (Track): its
// signed length, CUSUM statistic and residual sum. Version 6 adds, after
// the recent hours, the mean of every value of the hour in progress (its
// count, uint32, and sum, float32), the drift (float32) and whether it
// was restarted in the hour in progress (a byte), a bitmap of the recent
// hours in which it was, and the recent hours' means: a bitmap of the
// hours that have one, then each as a byte (a fraction of the hour's
// range). Version 7 adds the lower drift (float32) after the drift.
// Version 8 adds, last, the largest rise and fall of each day kept
// (SeenDays): a bitmap of the day slots held (a byte), then each slot's
// stamp (a byte) and its highest value, the expected value then, its
// lowest value and the expected value then (uint16 each, fixed point as
// the cells' means). Version 9 adds, last, the values of the hour in
// progress noted as known behaviour (NoteKnown): their count (uint32)
// and sum (float32). Versions 1 (float32
// cells with 16-bit day stamps and the raw values of the hour in
// progress), 2 and 3 are still read; keys of versions 1 and 2 start with
// no recent extremes and their pooled spreads computed from the cells;
// keys before version 6 start with no recent hours' means, so
// HourDeviation answers for them once a day of hours' means is learned;
// keys before version 7 start with no lower drift, keys before version 8
// with no days' largest deviations, and keys before version 9 with no
// value of the hour in progress noted as known.
var seasonalMagic = []byte("CAESEAS")

const seasonalVersion = 9

// Sizes of the version 4 bitmaps.
const (
	cellBitmapBytes   = (cellsPerKey + 7) / 8
	recentBitmapBytes = (recentHours + 7) / 8
)

// MarshalBinary encodes the learned state (not the configuration).
func (s *Seasonal) MarshalBinary() ([]byte, error) {
	type named struct {
		name string
		k    *seasonalKey
	}
	names := make([]named, 0, s.Keys())
	filled := 0
	for name, k := range s.keys {
		names = append(names, named{name, k})
		filled += k.filledCells()
	}
	for base, g := range s.groups {
		for f, k := range g.keys {
			if k != nil {
				names = append(names, named{base + s.sep + s.fields[f], k})
				filled += k.filledCells()
			}
		}
	}
	slices.SortFunc(names, func(a, b named) int { return strings.Compare(a.name, b.name) })
	b := make([]byte, 0, 64+len(names)*(64+cellBitmapBytes+5*recentHours)+filled*4)
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
	prev := ""
	for _, nk := range names {
		name, k := nk.name, nk.k
		shared := 0
		for shared < len(prev) && shared < len(name) && prev[shared] == name[shared] {
			shared++
		}
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(len(name)-shared))
		b = append(b, name[shared:]...)
		prev = name
		b = le.AppendUint32(b, k.n)
		b = le.AppendUint32(b, uint32(k.bufHour))
		b = le.AppendUint32(b, uint32(k.lastHour))
		b = le.AppendUint32(b, k.hourN)
		b = le.AppendUint32(b, math.Float32bits(k.hourMean))
		b = le.AppendUint32(b, math.Float32bits(k.hourM2))
		for i := range cellBitmapBytes {
			b = append(b, byte(k.filled[i/8]>>(8*(i%8))))
		}
		for r, c := range k.cells {
			b = append(b, uint8(c))
			if s.cfg.LogScale {
				b = le.AppendUint16(b, uint16(c>>16))
				b = append(b, uint8(c>>8))
			} else {
				b = le.AppendUint32(b, math.Float32bits(k.lin.cells[2*r]))
				b = le.AppendUint32(b, math.Float32bits(k.lin.cells[2*r+1]))
			}
		}
		b = s.appendV4(b, k)
		b = s.appendV6(b, k)
		b = s.appendV8(b, k)
		b = le.AppendUint32(b, k.hourKnownN)
		b = le.AppendUint32(b, math.Float32bits(k.hourKnownSum))
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

func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// UnmarshalBinary replaces the learned state with one written by
// MarshalBinary. On error the receiver is left unchanged.
func (s *Seasonal) UnmarshalBinary(data []byte) error {
	if len(data) < len(seasonalMagic)+1+4 || !bytes.Equal(data[:len(seasonalMagic)], seasonalMagic) {
		return fmt.Errorf("seasonal model: not a seasonal model: %w", ErrCorruptModel)
	}
	version := data[len(seasonalMagic)]
	if version < 1 || version > seasonalVersion {
		return fmt.Errorf("seasonal model: version %d, this build reads 1 to %d: %w", version, seasonalVersion, ErrCorruptModel)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("seasonal model: checksum mismatch: %w", ErrCorruptModel)
	}
	d := &decoder{b: body[len(seasonalMagic)+1:]}
	if version >= 2 {
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
	// The keys read, grouped as s groups them.
	into := &Seasonal{cfg: s.cfg, keys: map[string]*seasonalKey{}, sep: s.sep, fields: s.fields, fieldOf: s.fieldOf}
	if s.groups != nil {
		into.groups = map[string]*SeasonalKeys{}
	} else {
		into.keys = make(map[string]*seasonalKey, nkeys)
	}
	prev := ""
	for i := range nkeys {
		var name string
		if version >= 4 {
			shared, rest := d.uvarint(), d.uvarint()
			if d.bad || shared > uint64(len(prev)) || rest > uint64(len(d.b)) {
				return fmt.Errorf("seasonal model: key name: %w", ErrCorruptModel)
			}
			name = prev[:shared] + string(d.next(int(rest)))
			if name <= prev && i > 0 {
				return fmt.Errorf("seasonal model: key %q out of order: %w", name, ErrCorruptModel)
			}
			prev = name
		} else {
			nameLen := d.u32()
			if d.bad || uint64(nameLen) > uint64(len(d.b)) {
				return fmt.Errorf("seasonal model: key name: %w", ErrCorruptModel)
			}
			name = string(d.next(int(nameLen)))
		}
		if into.find(name) != nil {
			return fmt.Errorf("seasonal model: key %q twice: %w", name, ErrCorruptModel)
		}
		k := s.newKey()
		var err error
		switch version {
		case 1:
			err = s.readKeyV1(d, k)
		case 2:
			err = s.readKey(d, k)
		case 3:
			if err = s.readKey(d, k); err == nil {
				err = s.readV3(d, k)
			}
		default:
			err = s.readKeyV4(d, k, version)
			if err == nil && version >= 6 {
				s.readV6(d, k, version)
			}
			if err == nil && version >= 8 {
				s.readV8(d, k)
			}
			if err == nil && version >= 9 {
				k.hourKnownN, k.hourKnownSum = d.u32(), math.Float32frombits(d.u32())
				if f := float64(k.hourKnownSum); math.IsNaN(f) || math.IsInf(f, 0) {
					d.bad = true
				}
			}
		}
		if err == nil && version < 3 {
			s.pool(k, int64(k.bufHour))
		} else if err == nil {
			k.meansVar = float32(s.recentMeansVariance(k, int64(k.bufHour)-1))
		}
		if s.cfg.WithoutRecent {
			k.hourSeen, k.hourHi, k.hourLo = false, 0, 0
		}
		if err == nil && d.bad {
			err = errors.New("truncated")
		}
		if err != nil {
			return fmt.Errorf("seasonal model: key %q: %v: %w", name, err, ErrCorruptModel)
		}
		if base, f, ok := into.split(name); ok {
			g := into.groups[base]
			if g == nil {
				// base shares the name's bytes: hold only its own.
				g = into.Entity(strings.Clone(base))
			}
			g.keys[f] = k
			into.grouped++
		} else {
			into.keys[name] = k
		}
	}
	if len(d.b) != 0 {
		return fmt.Errorf("seasonal model: %d trailing bytes: %w", len(d.b), ErrCorruptModel)
	}
	s.keys, s.groups, s.grouped, s.samples = into.keys, into.groups, into.grouped, samples
	return nil
}

// appendV4 encodes what version 3 added to a key, in version 4's form
// with version 5's level-shift departure.
func (s *Seasonal) appendV4(b []byte, k *seasonalKey) []byte {
	le := binary.LittleEndian
	seen := uint8(0)
	if k.hourSeen {
		seen = 1
	}
	b = append(b, seen)
	b = le.AppendUint32(b, math.Float32bits(k.hourHi))
	b = le.AppendUint32(b, math.Float32bits(k.hourLo))
	b = le.AppendUint32(b, math.Float32bits(k.pooledWithin))
	b = le.AppendUint32(b, math.Float32bits(k.pooledBetween))
	b = le.AppendUint32(b, uint32(k.streak))
	b = le.AppendUint32(b, uint32(k.shiftN))
	b = le.AppendUint32(b, math.Float32bits(k.shiftS))
	b = le.AppendUint32(b, math.Float32bits(k.shiftSum))
	var bitmap [recentBitmapBytes]byte
	var stamps [recentHours]uint8
	if k.recent != nil {
		stamps = k.recent.stamp
	}
	for i, st := range stamps {
		if st != 0 {
			bitmap[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, bitmap[:]...)
	for i, st := range stamps {
		if st == 0 {
			continue
		}
		b = append(b, st)
		if s.cfg.LogScale {
			b = le.AppendUint16(b, k.recent.hi[i])
			b = le.AppendUint16(b, k.recent.lo[i])
		} else {
			b = le.AppendUint32(b, math.Float32bits(k.lin.recent[2*i]))
			b = le.AppendUint32(b, math.Float32bits(k.lin.recent[2*i+1]))
		}
	}
	return b
}

// appendV6 encodes what versions 6 and 7 added to a key: the mean of
// every value of the hour in progress and of the recent hours, and the
// drifts.
func (s *Seasonal) appendV6(b []byte, k *seasonalKey) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, k.hourAllN)
	b = le.AppendUint32(b, math.Float32bits(k.hourAllSum))
	b = le.AppendUint32(b, math.Float32bits(k.drift))
	b = le.AppendUint32(b, math.Float32bits(k.driftDown))
	reset := uint8(0)
	if k.driftReset {
		reset = 1
	}
	b = append(b, reset)
	var has, drifted uint64
	if k.recent != nil {
		has, drifted = k.recent.hasMean, k.recent.drifted
	}
	for i := range recentBitmapBytes {
		b = append(b, byte(drifted>>(8*i)))
	}
	for i := range recentBitmapBytes {
		b = append(b, byte(has>>(8*i)))
	}
	for i := range recentHours {
		if has&(1<<i) != 0 {
			b = append(b, k.recent.mean[i])
		}
	}
	return b
}

// readV6 reads what versions 6 and 7 added to a key (appendV6), the lower
// drift only from version 7 on. A recent hour's
// mean and restart are kept only beside its extremes, and not by a model
// that keeps none.
func (s *Seasonal) readV6(d *decoder, k *seasonalKey, version uint8) {
	k.hourAllN = d.u32()
	k.hourAllSum = math.Float32frombits(d.u32())
	k.drift = math.Float32frombits(d.u32())
	if version >= 7 {
		k.driftDown = math.Float32frombits(d.u32())
	}
	k.driftReset = d.u8() == 1
	if math.IsNaN(float64(k.hourAllSum)) || math.IsInf(float64(k.hourAllSum), 0) || !(k.drift >= 0) || math.IsInf(float64(k.drift), 0) ||
		!(k.driftDown >= 0) || math.IsInf(float64(k.driftDown), 0) {
		d.bad = true
	}
	var has, drifted uint64
	for i, c := range d.next(recentBitmapBytes) {
		drifted |= uint64(c) << (8 * i)
	}
	for i, c := range d.next(recentBitmapBytes) {
		has |= uint64(c) << (8 * i)
	}
	for i := range recentHours {
		if has&(1<<i) == 0 {
			continue
		}
		if m := d.u8(); k.recentStamp(i) != 0 {
			k.recent.hasMean |= 1 << i
			k.recent.mean[i] = m
		}
	}
	if k.recent != nil {
		for i := range recentHours {
			if drifted&(1<<i) != 0 && k.recent.stamp[i] != 0 {
				k.recent.drifted |= 1 << i
			}
		}
	}
	if s.cfg.WithoutRecent {
		k.hourAllN, k.hourAllSum, k.driftReset = 0, 0, false
	}
}

// appendV8 encodes what version 8 added to a key: its days' largest rise
// and fall (SeenDays), as a bitmap of the day slots held (a byte), then
// each slot's stamp and its four fixed-point figures.
func (s *Seasonal) appendV8(b []byte, k *seasonalKey) []byte {
	var held uint8
	r := k.recent
	if r != nil {
		for i, st := range r.dayStamp {
			if st != 0 {
				held |= 1 << i
			}
		}
	}
	b = append(b, held)
	le := binary.LittleEndian
	for i := range tailDays {
		if held&(1<<i) != 0 {
			b = append(b, r.dayStamp[i])
			b = le.AppendUint16(b, r.dayHi[i])
			b = le.AppendUint16(b, r.dayHiAt[i])
			b = le.AppendUint16(b, r.dayLo[i])
			b = le.AppendUint16(b, r.dayLoAt[i])
		}
	}
	return b
}

// readV8 reads what version 8 added to a key (appendV8), kept unless the
// model keeps no recent extremes.
func (s *Seasonal) readV8(d *decoder, k *seasonalKey) {
	held := d.u8()
	for i := range tailDays {
		if held&(1<<i) == 0 {
			continue
		}
		stamp, hi, hiAt, lo, loAt := d.u8(), d.u16(), d.u16(), d.u16(), d.u16()
		if stamp == 0 {
			d.bad = true
		}
		if s.cfg.WithoutRecent {
			continue
		}
		if k.recent == nil {
			k.recent = &recentExtremes{}
		}
		r := k.recent
		r.dayStamp[i], r.dayHi[i], r.dayHiAt[i], r.dayLo[i], r.dayLoAt[i] = stamp, hi, hiAt, lo, loAt
	}
}

// readKeyV4 reads a key of version 4 or 5.
func (s *Seasonal) readKeyV4(d *decoder, k *seasonalKey, version uint8) error {
	k.n = d.u32()
	k.bufHour = int32(d.u32())
	k.lastHour = int32(d.u32())
	k.hourN = d.u32()
	k.hourMean = math.Float32frombits(d.u32())
	k.hourM2 = math.Float32frombits(d.u32())
	cells := d.next(cellBitmapBytes) // cellsPerKey is a whole number of bytes
	for idx := range cellsPerKey {
		if cells[idx/8]&(1<<(idx%8)) == 0 {
			continue
		}
		stamp := d.u8()
		if stamp == 0 && !d.bad {
			return fmt.Errorf("cell %d stamp 0", idx)
		}
		s.readCell(d, k, idx, stamp)
	}
	if err := readKeyFigures(d, k, version); err != nil {
		return err
	}
	recent := d.next(recentBitmapBytes)
	for idx := range recentHours {
		if recent[idx/8]&(1<<(idx%8)) == 0 {
			continue
		}
		stamp := d.u8()
		if stamp == 0 && !d.bad {
			return fmt.Errorf("recent hour %d stamp 0", idx)
		}
		s.readRecent(d, k, int(idx), stamp)
	}
	return nil
}

// readRecent reads the extremes of recent slot idx, and keeps them unless
// the model keeps none.
func (s *Seasonal) readRecent(d *decoder, k *seasonalKey, idx int, stamp uint8) {
	var hi, lo uint16
	var fhi, flo float32
	if s.cfg.LogScale {
		hi, lo = d.u16(), d.u16()
	} else {
		fhi, flo = math.Float32frombits(d.u32()), math.Float32frombits(d.u32())
	}
	if s.cfg.WithoutRecent {
		return
	}
	if k.recent == nil {
		k.recent = &recentExtremes{}
	}
	k.recent.stamp[idx] = stamp
	if s.cfg.LogScale {
		k.recent.hi[idx], k.recent.lo[idx] = hi, lo
	} else {
		k.lin.recent[2*idx], k.lin.recent[2*idx+1] = fhi, flo
	}
}

// readCell reads the figures of key k's cell idx, stamped stamp, as
// versions 3 and 4 write them: a packed mean and spread on a log scale,
// two float32 otherwise.
func (s *Seasonal) readCell(d *decoder, k *seasonalKey, idx int, stamp uint8) {
	r := s.slot(k, idx)
	if s.cfg.LogScale {
		mean, sd := d.u16(), d.u8()
		k.cells[r] = packCell(stamp, mean, sd)
		return
	}
	k.cells[r] = uint32(stamp)
	k.lin.cells[2*r], k.lin.cells[2*r+1] = math.Float32frombits(d.u32()), math.Float32frombits(d.u32())
}

// readKeyFigures reads a key's figures beside its cells (versions 3 to 5
// write them alike but for the level shift's): the hour's extremes so
// far, the pooled spreads, the run beyond the threshold and the departure
// followed for a level change. Versions 3 and 4 followed only the run
// beyond the threshold: it becomes the departure, with a CUSUM statistic
// of one spread a window.
func readKeyFigures(d *decoder, k *seasonalKey, version uint8) error {
	k.hourSeen = d.u8() == 1
	k.hourHi = math.Float32frombits(d.u32())
	k.hourLo = math.Float32frombits(d.u32())
	k.pooledWithin = math.Float32frombits(d.u32())
	k.pooledBetween = math.Float32frombits(d.u32())
	k.streak = int32(d.u32())
	if version >= 5 {
		k.shiftN = int32(d.u32())
		k.shiftS = math.Float32frombits(d.u32())
	} else {
		k.shiftN = k.streak
		k.shiftS = float32(math.Abs(float64(k.streak)))
	}
	k.shiftSum = math.Float32frombits(d.u32())
	for _, f := range []float32{k.hourHi, k.hourLo, k.pooledWithin, k.pooledBetween, k.shiftS, k.shiftSum} {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return errors.New("a figure that is not a number")
		}
	}
	if k.shiftS < 0 || k.shiftN == math.MinInt32 {
		return errors.New("a level-shift departure out of range")
	}
	return nil
}

// readV3 reads what version 3 added to a key.
func (s *Seasonal) readV3(d *decoder, k *seasonalKey) error {
	if err := readKeyFigures(d, k, 3); err != nil {
		return err
	}
	filled := d.u8()
	if int(filled) > recentHours {
		return fmt.Errorf("%d recent hours", filled)
	}
	for range filled {
		idx, stamp := d.u8(), d.u8()
		if int(idx) >= recentHours || stamp == 0 {
			return fmt.Errorf("recent hour %d stamp %d", idx, stamp)
		}
		s.readRecent(d, k, int(idx), stamp)
	}
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
		if k.stampAt(i) != 0 {
			return fmt.Errorf("cell %d twice", idx)
		}
		s.readCell(d, k, i, stamp)
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
		s.store(k, int(idx), uint8((int64(day)-1)%255+1), mean, sd)
	}
	return nil
}
