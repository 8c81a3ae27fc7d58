package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/internal/atomicfile"
	"github.com/bigconv/bigconv/mmapnpz"
)

const archiveJournalVersion = 1

// maxArchiveJournal caps the size of an archive journal read back (one
// entry per tensor and a CRC range per gap between written blocks).
const maxArchiveJournal = 256 << 20

// archiveJournal records, for an .npz output, how far each tensor's
// blocks are durably written and the CRC-32s of the archive data written
// (the writer's Sums), so that a resumed run writes only the rest and
// reads nothing back. It is JSON, replaced atomically, beside the output
// (JournalPath).
type archiveJournal struct {
	Version   int             `json:"version"`
	Kind      string          `json:"kind"` // "npz"
	Output    string          `json:"output"`
	Input     string          `json:"input"`
	Settings  string          `json:"settings"`
	BlockSize int64           `json:"block_size"`
	Tensors   []archiveTensor `json:"tensors"`
	Sums      mmapnpz.Sums    `json:"sums"`
	Updated   time.Time       `json:"updated"`

	written bool // this run has written it once
}

// archiveTensor is one member's progress: blocks [0, Done) are durable.
type archiveTensor struct {
	Name    string     `json:"name"`
	Sample  string     `json:"sample"` // sha256 of the data's first and last 64 KiB
	From    string     `json:"from"`
	To      string     `json:"to"`
	Shape   []int64    `json:"shape"`
	Fortran bool       `json:"fortran"`
	Blocks  int64      `json:"blocks"`
	Verify  bool       `json:"verify"`
	Done    int64      `json:"done"`
	CRC     uint32     `json:"crc32c"` // of the input bytes of blocks [0, Done)
	Stats   cast.Stats `json:"stats"`
}

func readArchiveJournal(path string) (*archiveJournal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxArchiveJournal+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxArchiveJournal {
		return nil, fmt.Errorf("%w: journal %s is larger than %d bytes", ErrResume, path, maxArchiveJournal)
	}
	var j archiveJournal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: journal %s is unreadable: %v", ErrResume, path, err)
	}
	if j.Version != archiveJournalVersion || j.Kind != "npz" {
		return nil, fmt.Errorf("%w: journal %s is not an .npz journal of version %d", ErrResume, path, archiveJournalVersion)
	}
	for _, t := range j.Tensors {
		if t.Done < 0 || t.Done > t.Blocks {
			return nil, fmt.Errorf("%w: journal %s records %d of %d blocks of %q", ErrResume, path, t.Done, t.Blocks, t.Name)
		}
	}
	return &j, nil
}

// write replaces the journal at path atomically and durably.
func (j *archiveJournal) write(path string) error {
	j.Kind = "npz"
	j.Updated = time.Now().UTC().Truncate(time.Second)
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("engine: journal: %w", err)
	}
	return nil
}

// findArchiveJournal looks for the journal of an interrupted run of the
// archive out and returns it when this run should continue it.
func findArchiveJournal(out, jpath string, opt Options) (*archiveJournal, error) {
	j, err := readArchiveJournal(jpath)
	cont, err := leftJournal(out, jpath, opt, err, func() (string, time.Time) {
		var done, blocks int64
		for _, t := range j.Tensors {
			done += t.Done
			blocks += t.Blocks
		}
		return fmt.Sprintf("%d of %d blocks of %d tensors", done, blocks, len(j.Tensors)), j.Updated
	})
	if !cont {
		return nil, err
	}
	return j, nil
}

// mismatch names the first difference between a journal found on disk
// (j) and the one this run would write (k), or "" when k continues j.
func (j *archiveJournal) mismatch(k *archiveJournal) string {
	switch {
	case j.Input != k.Input:
		return fmt.Sprintf("the input changed since (was %s, now %s)", j.Input, k.Input)
	case j.Settings != k.Settings:
		return fmt.Sprintf("it ran with %s, this run with %s", j.Settings, k.Settings)
	case len(j.Tensors) != len(k.Tensors):
		return fmt.Sprintf("it converted %d tensors, this run selects %d", len(j.Tensors), len(k.Tensors))
	case j.BlockSize != k.BlockSize:
		return fmt.Sprintf("it used blocks of %d bytes, this run %d (drop --block-size to reuse the journal's)", j.BlockSize, k.BlockSize)
	}
	for i, a := range j.Tensors {
		b := k.Tensors[i]
		var why string
		switch {
		case a.Name != b.Name:
			return fmt.Sprintf("its tensor %d was %q, now %q (another selection)", i, a.Name, b.Name)
		case a.Sample != b.Sample:
			why = "its data changed since (the first or last 64 KiB differ)"
		case a.From != b.From || a.To != b.To:
			why = fmt.Sprintf("it was converted from %s to %s, this run %s to %s", a.From, a.To, b.From, b.To)
		case !slices.Equal(a.Shape, b.Shape) || a.Fortran != b.Fortran:
			why = fmt.Sprintf("its shape was %v, now %v", a.Shape, b.Shape)
		case a.Blocks != b.Blocks:
			why = fmt.Sprintf("it had %d blocks, now %d", a.Blocks, b.Blocks)
		case a.Verify != b.Verify:
			why = fmt.Sprintf("checksum verification was %v, now %v", onOff(a.Verify), onOff(b.Verify))
		}
		if why != "" {
			return fmt.Sprintf("tensor %q: %s", a.Name, why)
		}
	}
	return ""
}
