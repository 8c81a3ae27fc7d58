// Package testhook holds hooks that tests set to stop a conversion at an
// exact point (a checkpoint, the final rename) and kill or interrupt it
// there. Production code only calls them when they are set; nothing sets
// them outside tests.
package testhook

// Checkpoint, when set, is called after the journal records that blocks
// [0, done) of total are durable.
var Checkpoint func(done, total int64)

// BeforeCommit, when set, is called after the last block is durable and
// recorded, just before the output is renamed to its final name.
var BeforeCommit func()

// AfterCommit, when set, is called after the rename, before the journal
// is removed.
var AfterCommit func()

// BeforeBlock, when set, is called by a worker before it reads block i
// of total.
var BeforeBlock func(i, total int64)

// PartConverting, when set, is called when part index of a parts run
// starts converting a chunk (true) and when it stops (false).
var PartConverting func(index int, converting bool)

// Fsync, when set, is called after each fsync bigconv issues for an
// output (what names the file or directory synced), so tests can count
// them: a short run takes no checkpoint fsyncs, and --no-sync none.
var Fsync func(what string)

// Fsynced calls Fsync if it is set.
func Fsynced(what string) {
	if Fsync != nil {
		Fsync(what)
	}
}
