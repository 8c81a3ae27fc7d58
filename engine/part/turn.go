package part

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
// parts at once took 61 % more CPU samples (perf) than one process (context switches,
// caches, the output file's inode lock; docs/distributed.md). Taking
// turns, each part converts with all its workers while the others wait,
// and makes its bytes durable after its turn, while the next one
// converts.
//
// The turn is an flock on a file in os.TempDir() named by the user, out's
// absolute path, the process's CPU affinity set and the host's boot:
// parts pinned to different CPUs (Slurm tasks with their own cpusets) and
// parts on other hosts or in other containers never wait for each other.
// A part killed during its turn loses the lock with its process; one
// waiting longer than MaxTurnWait (its holder stopped, say) goes on
// without a turn. Turns are an optimisation: if the lock file cannot be
// used (or is another user's), Turn returns at once and the part
// converts without one. It returns an error only when ctx ends first.
func Turn(ctx context.Context, out string) (end func(), waited time.Duration, err error) {
	path := turnPath(out)
	start := time.Now()
	none := func() {}
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return none, time.Since(start), nil
		}
		var held unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) != nil || held.Uid != uint32(os.Getuid()) {
			f.Close() // another user's file: no turns with it
			return none, time.Since(start), nil
		}
		switch err := lock(ctx, f, MaxTurnWait-time.Since(start)); {
		case err == nil:
		case errors.Is(err, errWaitedLong):
			// a holder stopped (Ctrl-Z, a suspended job) must not stop
			// the others for good: convert without a turn
			return none, time.Since(start), nil
		case ctx.Err() != nil:
			return nil, time.Since(start), ctx.Err() // f is closed by lock's waiter
		default:
			f.Close()
			return none, time.Since(start), nil
		}
		// The holder before us removed the file as it ended its turn: a
		// part arriving since may hold a lock on a new file of that name.
		var now unix.Stat_t
		if unix.Stat(path, &now) != nil || held.Dev != now.Dev || held.Ino != now.Ino {
			f.Close()
			continue
		}
		return func() {
			os.Remove(path) // before the unlock, so no one locks a removed file unawares
			f.Close()
		}, time.Since(start), nil
	}
}

// MaxTurnWait is the longest a part waits for its turn before it
// converts without one (tests lower it). One turn is one chunk's
// conversion (1 GiB by default), far shorter than this.
var MaxTurnWait = 2 * time.Minute

var errWaitedLong = errors.New("part: waited too long for a turn")

// lock takes an exclusive flock on f, waiting for it until ctx ends or
// for at most wait. When it gives up waiting, f is closed for it, once
// the blocked flock returns.
func lock(ctx context.Context, f *os.File, wait time.Duration) error {
	fd := int(f.Fd())
	err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err != unix.EWOULDBLOCK {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- unix.Flock(fd, unix.LOCK_EX) }()
	timer := time.NewTimer(max(wait, 0))
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errWaitedLong
	}
	// the blocked flock may still succeed: once it returns, closing the
	// file gives the lock up
	go func() {
		<-done
		f.Close()
	}()
	return err
}

// CPUs is how many CPUs this process may run on (its affinity set).
func CPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return 1
	}
	return set.Count()
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
	// The host's boot: parts on other hosts must never share a lock, even
	// where $TMPDIR is a network file system whose locks span hosts.
	host, _ := os.Hostname()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	h := sha256.Sum256([]byte(abs + "\x00" + strings.Join(cpus, ",") + "\x00" + host + "\x00" + string(boot)))
	return filepath.Join(os.TempDir(), fmt.Sprintf("bigconv-turn-%d-%s.lock", os.Getuid(), hex.EncodeToString(h[:8])))
}
