package part

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Turn waits until no other part of the conversion into out is
// converting on this host's CPUs, and returns the function that ends
// this part's turn and how long it waited.
//
// Parts that run side by side on the same CPUs gain nothing from each
// other and lose to the sharing: on our 2-CPU VMs, four int64→float32
// parts at once spent 61 % more CPU than one process (context switches,
// caches, the output file's inode lock; docs/distributed.md). Taking
// turns, each part converts with all its workers while the others wait,
// and makes its bytes durable after its turn, while the next one
// converts.
//
// The turn is an flock on a file in os.TempDir() named by out's absolute
// path and the process's CPU affinity set: parts pinned to different CPUs
// (Slurm tasks with their own cpusets) and parts on other hosts or in
// other containers never wait for each other. A part killed during its
// turn loses the lock with its process. Turns are an optimisation: if
// the lock file cannot be used, Turn returns at once and the part
// converts without one. It returns an error only when ctx ends first.
func Turn(ctx context.Context, out string) (end func(), waited time.Duration, err error) {
	path := turnPath(out)
	start := time.Now()
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return func() {}, 0, nil
		}
		if err := lock(ctx, f); err != nil {
			if ctx.Err() != nil {
				return nil, time.Since(start), ctx.Err()
			}
			f.Close()
			return func() {}, 0, nil
		}
		// The holder before us removed the file as it ended its turn: a
		// part arriving since may hold a lock on a new file of that name.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(path, &now) != nil ||
			held.Dev != now.Dev || held.Ino != now.Ino {
			f.Close()
			continue
		}
		return func() {
			os.Remove(path) // before the unlock, so no one locks a removed file unawares
			f.Close()
		}, time.Since(start), nil
	}
}

// lock takes an exclusive flock on f, waiting for it until ctx ends.
func lock(ctx context.Context, f *os.File) error {
	fd := int(f.Fd())
	err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err != unix.EWOULDBLOCK {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- unix.Flock(fd, unix.LOCK_EX) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// the blocked flock may still succeed: once it returns, closing
		// the file gives the lock up
		go func() {
			<-done
			f.Close()
		}()
		return ctx.Err()
	}
}

// turnPath is the lock file of out's parts on this process's CPUs.
func turnPath(out string) string {
	abs, err := filepath.Abs(out)
	if err != nil {
		abs = out
	}
	var cpus []string
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		for i := 0; i < len(set)*64; i++ {
			if set.IsSet(i) {
				cpus = append(cpus, strconv.Itoa(i))
			}
		}
	}
	h := sha256.Sum256([]byte(abs + "\x00" + strings.Join(cpus, ",")))
	return filepath.Join(os.TempDir(), "bigconv-turn-"+hex.EncodeToString(h[:8])+".lock")
}
