package mmapnpy

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// flushBytes is how much output WriteBack lets pile up before the
// background flusher makes it durable with fdatasync. Measured on our
// 2-CPU VMs (docs/benchmarks.md, "Flushing while converting"): writing
// 512 MiB and then fsyncing took 0.57–0.59 s, of which the fsync alone
// 0.23–0.25 s even when every page had been written back already (the
// disk's own cache is flushed only by the fsync); an fdatasync every 64
// or 128 MiB during the writes brought the whole to 0.39–0.42 s and left
// the final fsync 0–60 ms; every 32 MiB stalled the writers (0.83–1.0 s).
// Tests lower it.
var flushBytes int64 = 128 << 20

// A flusher fdatasyncs a Writer's file in the background, at most one at
// a time, whenever flushBytes more have been handed to WriteBack. It
// promises nothing by itself: Sync and Commit still fsync. An error it
// meets is kept and returned by the next Sync, Commit or Release, since
// Linux reports a write-back error to one fsync per file descriptor and
// the flusher's may be that one.
type flusher struct {
	f       *os.File
	pending atomic.Int64
	kick    chan struct{}
	quit    chan struct{}
	exit    chan struct{}
	count   atomic.Int64 // fdatasyncs done

	mu  sync.Mutex
	err error
}

func startFlusher(f *os.File) *flusher {
	fl := &flusher{f: f, kick: make(chan struct{}, 1), quit: make(chan struct{}), exit: make(chan struct{})}
	go fl.loop()
	return fl
}

func (fl *flusher) loop() {
	defer close(fl.exit)
	for {
		select {
		case <-fl.quit:
			return
		case <-fl.kick:
		}
		if err := unix.Fdatasync(int(fl.f.Fd())); err != nil && err != unix.EINVAL {
			fl.mu.Lock()
			if fl.err == nil {
				fl.err = fmt.Errorf("mmapnpy: fdatasync %s: %w", fl.f.Name(), err)
			}
			fl.mu.Unlock()
			return
		}
		fl.count.Add(1)
	}
}

// add counts n more bytes handed to the disk and wakes the loop when
// flushBytes have piled up since it last woke.
func (fl *flusher) add(n int64) {
	if fl.pending.Add(n) < flushBytes {
		return
	}
	fl.pending.Store(0)
	select {
	case fl.kick <- struct{}{}:
	default: // one is pending or running: it will take these bytes too
	}
}

// stop ends the loop (waiting for a running fdatasync) and returns the
// first error it met.
func (fl *flusher) stop() error {
	if fl == nil {
		return nil
	}
	select {
	case <-fl.quit:
	default:
		close(fl.quit)
	}
	<-fl.exit
	return fl.error()
}

func (fl *flusher) error() error {
	if fl == nil {
		return nil
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.err
}
