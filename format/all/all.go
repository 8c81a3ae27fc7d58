// Package all registers every input format bigconv reads, for programs
// that want them all:
//
//	import _ "github.com/bigconv/bigconv/format/all"
//
// A program that needs fewer imports only those readers (format/npy,
// format/tfbundle, …); the registry knows only what was imported.
package all

import (
	_ "github.com/bigconv/bigconv/format/npy"
	_ "github.com/bigconv/bigconv/format/npz"
	_ "github.com/bigconv/bigconv/format/onnx"
	_ "github.com/bigconv/bigconv/format/pytorch"
	_ "github.com/bigconv/bigconv/format/raw"
	_ "github.com/bigconv/bigconv/format/safetensors"
	_ "github.com/bigconv/bigconv/format/shardindex"
	_ "github.com/bigconv/bigconv/format/tensorproto"
	_ "github.com/bigconv/bigconv/format/tfbundle"
	_ "github.com/bigconv/bigconv/format/tfrecord"
)
