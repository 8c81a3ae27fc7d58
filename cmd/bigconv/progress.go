package main

import (
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// bar is a progress bar on stderr — percentage, bytes done of the total,
// rate and ETA, drawn by github.com/schollz/progressbar — or nothing. It
// shows 100 % only for finished work (the library rounds the percentage
// down); a run that fails or is interrupted leaves the bar where it
// stopped, marked "(stopped)".
type bar struct {
	on   bool
	w    io.Writer
	desc string

	mu    sync.Mutex
	pb    *progressbar.ProgressBar
	total int64
	done  int64
	drawn time.Time // redraws are throttled here, so that finish can always draw
}

func newBar(on bool, w io.Writer, desc string) *bar {
	return &bar{on: on, w: w, desc: desc}
}

func (b *bar) start(total int64) {
	if total <= 0 {
		total = -1 // unknown (a stream): bytes and rate only
	}
	b.total = total
	b.pb = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(b.desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(24),
		progressbar.OptionSetRenderBlankState(true),
	)
}

// update is an engine progress callback: input bytes done of total (-1
// when unknown). It redraws at most ten times a second.
func (b *bar) update(done, total int64) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb == nil {
		b.start(total)
	} else if total > 0 && total != b.total {
		b.total = total
		b.pb.ChangeMax64(total)
	}
	if b.total > 0 && done >= b.total {
		return // only finish(true) may draw the finished bar
	}
	b.done = done
	if now := time.Now(); now.Sub(b.drawn) >= 100*time.Millisecond {
		b.drawn = now
		b.pb.Set64(done)
	}
}

// finish ends the bar. ok says the work is complete: the bar is filled;
// otherwise it stays at what was done and says so.
func (b *bar) finish(ok bool) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb == nil {
		if !ok {
			return // refused before any work: no bar to end
		}
		b.start(-1)
	}
	if ok {
		b.pb.Finish()
		io.WriteString(b.w, "\n")
		return
	}
	b.pb.Set64(b.done) // the last state, even inside the throttle interval
	b.pb.Exit()
	io.WriteString(b.w, " (stopped)\n")
}
