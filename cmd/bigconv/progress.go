package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// bar is a progress bar on stderr (bytes, rate, ETA), or nothing.
type bar struct {
	on bool
	pb *progressbar.ProgressBar
}

func newBar(on bool, w io.Writer, total int64, desc string) *bar {
	if !on {
		return &bar{}
	}
	if total <= 0 {
		total = -1
	}
	pb := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
	)
	return &bar{on: true, pb: pb}
}

// update returns a progress callback for one tensor whose bytes start at
// base within the bar's total.
func (b *bar) update(base int64) func(done, total int64) {
	if !b.on {
		return nil
	}
	return func(done, _ int64) { b.pb.Set64(base + done) }
}

func (b *bar) finish() {
	if b.on {
		b.pb.Finish()
	}
}
