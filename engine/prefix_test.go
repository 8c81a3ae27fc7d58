package engine

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/internal/crc32c"
)

// TestPrefixSpans: blocks finished out of order are held as merged spans,
// one per gap, not one per block — 100,000 blocks finished behind one
// unfinished block (a one-pass stream) are one span, and the heap does
// not grow with them — and the prefix folds to the crc32c and cast
// counts of all the blocks in order, whatever the order they came in.
func TestPrefixSpans(t *testing.T) {
	const n = 100_001
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sum := func(i int64) blockSum {
		return blockSum{crc: crc32c.Checksum(data[i : i+1]), len: 1, stats: cast.Stats{NaN: i % 3}}
	}
	var want cast.Stats
	for i := range int64(n) {
		want.Add(sum(i).stats)
	}

	t.Run("gated", func(t *testing.T) {
		var p prefix
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := int64(1); i < n; i++ {
			p.add(i, sum(i))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(p.ahead) != 1 || p.done != 0 || p.n != n-1 {
			t.Fatalf("%d spans ahead, done %d, %d added; want 1, 0, %d", len(p.ahead), p.done, p.n, n-1)
		}
		if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<10 {
			t.Errorf("heap grew %d bytes for %d blocks behind a gap", grew, n-1)
		}
		p.add(0, sum(0))
		if len(p.ahead) != 0 || p.done != n || p.crc != crc32c.Checksum(data) || p.stats != want {
			t.Fatalf("after the gap: %d spans, done %d, crc %#x (want %#x), stats %+v (want %+v)",
				len(p.ahead), p.done, p.crc, crc32c.Checksum(data), p.stats, want)
		}
	})
	t.Run("random", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for round := range 20 {
			const m = 2000
			order := rng.Perm(m)
			var p prefix
			maxSpans := 0
			for _, i := range order {
				p.add(int64(i), sum(int64(i)))
				maxSpans = max(maxSpans, len(p.ahead))
			}
			if p.done != m || len(p.ahead) != 0 || p.crc != crc32c.Checksum(data[:m]) {
				t.Fatalf("round %d: done %d, %d spans, crc %#x want %#x", round, p.done, len(p.ahead), p.crc, crc32c.Checksum(data[:m]))
			}
			if maxSpans > m/2 {
				t.Fatalf("round %d: %d spans for %d blocks", round, maxSpans, m)
			}
		}
	})
}
