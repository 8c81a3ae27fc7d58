// Package tfbundle reads TensorFlow tensor bundles — V2 checkpoints and a
// SavedModel's variables/ — without TensorFlow, describing each tensor as
// a tensor.Tensor whose Data streams from the data shards.
//
// A bundle is PREFIX.index, a LevelDB-style table (read by
// tfbundle/internal/table) mapping "" to a BundleHeaderProto and each
// tensor name to a BundleEntryProto, plus data shards
// PREFIX.data-00000-of-0000N holding the raw bytes. Numeric tensors are
// one contiguous range of a shard, with the expected CRC-32C in
// Tensor.CRC32C for the engine to verify while it streams. String tensors
// become fixed-width "|S<n>" records, verified when the bundle is opened.
// Partitioned variables are reassembled from their slices on the fly and
// verified slice by slice. Resource and variant tensors are listed as
// Unsupported. Legacy V1 checkpoints are refused (ErrUnsupported).
//
// Library code takes an io.ReaderAt; only the caller opens files:
//
//	f, _ := os.Open("model/variables/variables.index")
//	st, _ := f.Stat()
//	b, err := tfbundle.Open(f, st.Size(), f.Name(), func(name string) (io.ReaderAt, int64, error) {
//		g, err := os.Open(filepath.Join("model/variables", name))
//		if err != nil {
//			return nil, 0, err
//		}
//		st, err := g.Stat()
//		if err != nil {
//			return nil, 0, err
//		}
//		return g, st.Size(), nil // the caller closes g when done
//	})
//	for _, t := range b.Tensors() {
//		fmt.Println(t.Describe())
//	}
//
// The package registers itself with the format registry as "tfbundle"
// (extension ".index"; the table's magic is at the end of the file, so
// there is no Sniff). IndexPath turns what a user names a bundle by (a
// prefix, a SavedModel directory…) into the .index path.
//
// Concurrency: a Bundle is immutable once opened; the Data of every
// tensor is safe for concurrent ReadAt calls.
//
// Errors start with "tfbundle: " and wrap tensor.ErrFormat, ErrCorrupt,
// ErrChecksum or ErrUnsupported with the file, tensor and byte offset.
package tfbundle
