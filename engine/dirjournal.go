package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/bigconv/bigconv/internal/atomicfile"
)

// dirJournal records, for a conversion of many tensors into a directory,
// which tensors are finished, so that a resumed run skips them. The tensor in
// progress has its own journal (engine.JournalPath) beside its partial
// file.
type dirJournal struct {
	Input    string          `json:"input"`
	Settings string          `json:"settings"`
	Tensors  []string        `json:"tensors"`
	Done     []ManifestEntry `json:"done"`
}

const dirJournalName = ".bigconv-journal.json"

func (d *dirJournal) path(dir string) string { return filepath.Join(dir, dirJournalName) }

// open looks at what an earlier run left in dir: with resume it returns
// the finished tensors to skip; with restart it discards them; otherwise
// left work is an error naming both flags.
func (d *dirJournal) open(dir, finalDir string, resume, restart bool) (map[string]ManifestEntry, error) {
	b, err := os.ReadFile(d.path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		if dir != finalDir {
			// A temporary directory without a journal is a leftover
			// from a run that died before writing anything.
			os.RemoveAll(dir)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if restart {
		if dir != finalDir {
			os.RemoveAll(dir)
		} else {
			os.Remove(d.path(dir))
		}
		return nil, nil
	}
	var old dirJournal
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("%w: %s is unreadable (%v); --restart discards it", ErrResume, d.path(dir), err)
	}
	if !resume {
		return nil, fmt.Errorf("%w: %s holds %d of %d tensors of an interrupted conversion to %s (journal %s); run the same command with --resume to continue, or --restart to start over",
			ErrPending, dir, len(old.Done), len(old.Tensors), finalDir, d.path(dir))
	}
	var why string
	switch {
	case old.Input != d.Input:
		why = fmt.Sprintf("the input changed since (was %s, now %s)", old.Input, d.Input)
	case old.Settings != d.Settings:
		why = fmt.Sprintf("it ran with %s, this run with %s", old.Settings, d.Settings)
	case !slices.Equal(old.Tensors, d.Tensors):
		why = "it converted another selection of tensors"
	}
	if why != "" {
		return nil, fmt.Errorf("%w %s: %s; --restart discards it", ErrResume, finalDir, why)
	}
	prev := map[string]ManifestEntry{}
	for _, e := range old.Done {
		prev[e.Name] = e
	}
	return prev, nil
}

// write replaces the journal in dir atomically.
func (d *dirJournal) write(dir string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(d.path(dir), append(b, '\n'))
}
