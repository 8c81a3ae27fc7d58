package mmapnpz

import (
	"errors"
	"fmt"
	"hash/crc32"
	"runtime"
	"slices"
	"sync"

	"github.com/bigconv/bigconv/internal/crccombine"
)

func crcIEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// Range is a range of one member's array data, in bytes from the start
// of its data (as Entry offsets), whose CRC-32 (IEEE) is known.
type Range struct {
	Off int64  `json:"off"`
	Len int64  `json:"len"`
	CRC uint32 `json:"crc32"`
}

// Sums is a snapshot of the CRC-32s a Writer has recorded: for each
// member with any, its data ranges written so far (sorted, disjoint,
// adjacent ranges already joined, so there are about as many as there are
// gaps between blocks written). A resume journal stores it so that a
// resumed run does not read back what the interrupted one wrote; see
// Writer.Sums for the order of calls that makes it safe.
type Sums struct {
	Members []MemberSums `json:"members,omitempty"`
}

// MemberSums is the known ranges of member Member (its index in the
// member list given to Create).
type MemberSums struct {
	Member int     `json:"member"`
	Ranges []Range `json:"ranges"`
}

// crcState is what one member's data is known to hash to. Ranges are
// sorted by Off, disjoint, and joined when adjacent; what no range covers
// is read back from the file at Commit.
type crcState struct {
	mu     sync.Mutex
	ranges []Range
}

// add records that data [off, off+n) now hashes to crc. A range that
// overlaps ones recorded earlier (a block written again) replaces them
// wholly: the parts of them it does not cover become unknown and are read
// back at Commit, so the result is right whatever was rewritten.
func (s *crcState) add(r Range) {
	if r.Len <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	end := r.Off + r.Len
	// first range ending after r starts
	i, _ := slices.BinarySearchFunc(s.ranges, r.Off, func(x Range, off int64) int {
		if x.Off+x.Len <= off {
			return -1
		}
		return 1
	})
	j := i
	for j < len(s.ranges) && s.ranges[j].Off < end {
		j++ // overlapping
	}
	s.ranges = slices.Replace(s.ranges, i, j, r)
	// join with the neighbour on the right, then on the left
	if i+1 < len(s.ranges) && s.ranges[i+1].Off == end {
		nx := s.ranges[i+1]
		s.ranges[i].CRC = crccombine.IEEE.Combine(s.ranges[i].CRC, nx.CRC, nx.Len)
		s.ranges[i].Len += nx.Len
		s.ranges = slices.Delete(s.ranges, i+1, i+2)
	}
	if i > 0 && s.ranges[i-1].Off+s.ranges[i-1].Len == r.Off {
		cur := s.ranges[i]
		s.ranges[i-1].CRC = crccombine.IEEE.Combine(s.ranges[i-1].CRC, cur.CRC, cur.Len)
		s.ranges[i-1].Len += cur.Len
		s.ranges = slices.Delete(s.ranges, i, i+1)
	}
}

func (s *crcState) snapshot() []Range {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ranges)
}

// Sums returns a snapshot of the CRC-32s recorded so far. It is safe to
// call while blocks are being written: a block is recorded only once its
// bytes are in the file. To persist it for a resume, take the snapshot
// first, then Sync, then write the journal: everything the snapshot
// names is then durable.
func (w *Writer) Sums() Sums {
	var s Sums
	for i := range w.crcs {
		if r := w.crcs[i].snapshot(); len(r) > 0 {
			s.Members = append(s.Members, MemberSums{Member: i, Ranges: r})
		}
	}
	return s
}

// Restore records CRC-32s from a snapshot taken (Sums) by an earlier run
// of the same archive, after Create with Options.Keep reused its partial
// file. Ranges must lie inside their member's data. What Restore records
// is trusted: a range whose bytes changed since would give a wrong CRC
// (zipfile's testzip would then name the member).
func (w *Writer) Restore(s Sums) error {
	if !w.reused {
		return fmt.Errorf("mmapnpz: Restore without a reused partial file (Options.Keep)")
	}
	for _, ms := range s.Members {
		if ms.Member < 0 || ms.Member >= len(w.lay.members) {
			return fmt.Errorf("mmapnpz: Restore: no member %d (the archive has %d)", ms.Member, len(w.lay.members))
		}
		m := &w.lay.members[ms.Member]
		for _, r := range ms.Ranges {
			if r.Off < 0 || r.Len < 0 || r.Off > m.dataLen-r.Len {
				return fmt.Errorf("mmapnpz: Restore: range %d+%d outside the %d data bytes of %q", r.Off, r.Len, m.dataLen, m.Name)
			}
		}
	}
	for _, ms := range s.Members {
		for _, r := range ms.Ranges {
			w.crcs[ms.Member].add(r)
		}
	}
	return nil
}

// readPiece is the most of a range without a recorded CRC that one
// goroutine reads back and hashes at a time at Commit (a variable for
// tests).
var readPiece int64 = 8 << 20

// segment is a piece of one member's data at Commit: known (its CRC
// recorded) or to be read back.
type segment struct {
	member   int
	off, len int64
	crc      uint32
	known    bool
}

// memberCRCs is every member's CRC-32: its .npy header, the recorded
// ranges, and what they leave out read back from the file, in pieces
// hashed by GOMAXPROCS goroutines, then joined in order.
func (w *Writer) memberCRCs() ([]uint32, error) {
	var segs []segment
	var unknown []int // indexes into segs
	gap := func(i int, from, to int64) {
		for o := from; o < to; o += readPiece {
			unknown = append(unknown, len(segs))
			segs = append(segs, segment{member: i, off: o, len: min(readPiece, to-o)})
		}
	}
	for i := range w.lay.members {
		pos := int64(0)
		for _, r := range w.crcs[i].snapshot() {
			gap(i, pos, r.Off)
			segs = append(segs, segment{member: i, off: r.Off, len: r.Len, crc: r.CRC, known: true})
			pos = r.Off + r.Len
		}
		gap(i, pos, w.lay.members[i].dataLen)
	}
	if err := w.hashPieces(segs, unknown); err != nil {
		return nil, err
	}
	crcs := make([]uint32, len(w.lay.members))
	for i := range crcs {
		crcs[i] = w.lay.members[i].hdrCRC
	}
	for _, s := range segs {
		crcs[s.member] = crccombine.IEEE.Combine(crcs[s.member], s.crc, s.len)
	}
	return crcs, nil
}

// hashPieces reads back and hashes segs[k] for every k in which.
func (w *Writer) hashPieces(segs []segment, which []int) error {
	if len(which) == 0 {
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), len(which))
	next := make(chan int)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var buf []byte
			var first error
			for k := range next {
				if first != nil {
					continue
				}
				s := &segs[k]
				if int64(cap(buf)) < s.len {
					buf = make([]byte, s.len)
				}
				m := &w.lay.members[s.member]
				if _, err := w.f.ReadAt(buf[:s.len], m.dataOff()+s.off); err != nil {
					first = fmt.Errorf("mmapnpz: read back %q at %d (+%d) of %s: %w", m.Name, m.dataOff()+s.off, s.len, w.tmp, err)
					continue
				}
				s.crc = crcIEEE(buf[:s.len])
			}
			errs <- first
		}()
	}
	for _, k := range which {
		next <- k
	}
	close(next)
	var err error
	for range workers {
		err = errors.Join(err, <-errs)
	}
	return err
}
