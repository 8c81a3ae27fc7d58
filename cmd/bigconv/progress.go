package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// bar is a progress bar on stderr — percentage, bytes done of the total,
// rate and ETA — or nothing. It shows 100 % only for finished work: the
// percentage is rounded down, and a run that fails or is interrupted
// leaves the bar where it stopped.
type bar struct {
	on    bool
	w     io.Writer
	desc  string
	now   func() time.Time
	start time.Time

	mu          sync.Mutex
	done, total int64
	drawn       time.Time
	width       int // of the last line drawn, to blank it out
}

func newBar(on bool, w io.Writer, desc string) *bar {
	return &bar{on: on, w: w, desc: desc, now: time.Now, total: -1}
}

// update is an engine progress callback: input bytes done of total (-1
// when unknown). It redraws at most ten times a second.
func (b *bar) update(done, total int64) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.start.IsZero() {
		b.start = now
	}
	b.done, b.total = done, total
	if now.Sub(b.drawn) >= 100*time.Millisecond {
		b.draw(now)
	}
}

// finish draws the last state and ends the line. ok says the work is
// complete; otherwise the bar stays at what was done.
func (b *bar) finish(ok bool) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok && b.start.IsZero() {
		return // refused before any work: no bar to end
	}
	if ok && b.total >= 0 {
		b.done = b.total
	}
	if b.start.IsZero() {
		b.start = b.now()
	}
	b.draw(b.now())
	if !ok {
		io.WriteString(b.w, " (stopped)")
	}
	io.WriteString(b.w, "\n")
}

func (b *bar) draw(now time.Time) {
	b.drawn = now
	line := b.line(now.Sub(b.start))
	pad := max(b.width-len([]rune(line)), 0)
	b.width = len([]rune(line))
	fmt.Fprintf(b.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// line renders: desc  42% [=========>            ] 420 MiB / 1.0 GiB, 120 MiB/s, ETA 5s
func (b *bar) line(elapsed time.Duration) string {
	const cells = 24
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(b.done) / s
	}
	if b.total < 0 {
		return fmt.Sprintf("%s %s, %s/s", b.desc, bytesText(b.done), bytesText(int64(rate)))
	}
	pct := int64(100)
	if b.total > 0 {
		pct = b.done * 100 / b.total // rounded down: 100 only when done
	}
	fill := int(pct * cells / 100)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", cells-fill)
	if fill < cells && fill > 0 {
		bar = strings.Repeat("=", fill-1) + ">" + strings.Repeat(" ", cells-fill)
	}
	eta := "ETA -"
	switch {
	case b.done >= b.total:
		eta = "in " + elapsed.Round(time.Second/10).String()
	case rate > 0:
		eta = "ETA " + time.Duration(float64(b.total-b.done)/rate*float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s %3d%% [%s] %s / %s, %s/s, %s", b.desc, pct, bar,
		bytesText(b.done), bytesText(b.total), bytesText(int64(rate)), eta)
}

// bytesText prints a byte count in binary units: "512 B", "1.5 MiB".
func bytesText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v, unit = v/1024, u
		if v < 1024 {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
