package detect

import (
	"encoding/binary"
	"testing"
)

// FuzzLeastRecent: whatever the last-seen times, leastRecent drops
// exactly the entities beyond keep, and none it drops was seen after one
// it keeps.
func FuzzLeastRecent(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, data []byte, keep int) {
		last := map[uint16]int64{}
		for i := 0; i+3 < len(data); i += 4 {
			last[binary.LittleEndian.Uint16(data[i:])] = int64(int16(binary.LittleEndian.Uint16(data[i+2:])))
		}
		keep = keep % 64
		dropped := leastRecent(last, keep)
		if want := max(0, len(last)-max(keep, 0)); len(dropped) != want {
			t.Fatalf("dropped %d of %d keeping %d", len(dropped), len(last), keep)
		}
		gone := map[uint16]bool{}
		newest := int64(-1 << 62)
		for _, k := range dropped {
			gone[k] = true
			newest = max(newest, last[k])
		}
		for k, at := range last {
			if !gone[k] && at < newest {
				t.Fatalf("kept %d seen at %d, dropped one seen at %d", k, at, newest)
			}
		}
	})
}
