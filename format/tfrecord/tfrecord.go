// Package tfrecord reads TFRecord files (tf.io.TFRecordWriter,
// tf.data.experimental.TFRecordWriter, TensorBoard event files) as one
// stacked tensor.
//
// Two kinds of records are understood:
//   - serialized TensorProtos (tf.io.serialize_tensor) of one dtype and
//     shape S: the tensor is [N, S…], read in place from each record's
//     tensor_content;
//   - tf.train.Example, with a feature name (--feature): the tensor is
//     [N, k] of float32 (float_list), int64 (int64_list) or |S<longest>
//     (bytes_list), k values in every record.
//
// A seekable uncompressed file is indexed by Open in one pass that checks
// every CRC (about 8 bytes of memory per record, less when the records
// are evenly spaced); its Data is an io.ReaderAt. A GZIP or ZLIB file,
// or a stream such as stdin, is read once by OpenStream; its tensor has
// a Stream and Shape[0] == 0; the Stream of a file (not stdin) also has
// a method Rows(context.Context) (int64, error) that counts the records in
// a pass of its own (stopping between records when the context is done),
// for callers that must know the first axis before reading (a stack).
// Records that are not tensors (TensorBoard
// events) give a *NotTensorsError that says how many records there are;
// Count counts any TFRecord file's records.
//
//	t, err := tfrecord.Open(f, size, "x.tfrecord", "")    // [N, …] of serialized tensors
//	t, err = tfrecord.Open(f, size, "x.tfrecord", "age")  // [N, k] of one Example feature
//	n, err := tfrecord.Count(f, size)                      // records, CRCs checked
//
// Concurrency: Open, OpenStream and Count may run in parallel. The Data
// of a tensor from Open is safe for concurrent ReadAt calls when the
// underlying io.ReaderAt is (an *os.File is). A tensor's Stream and a
// Reader are plain io.Readers for one goroutine.
package tfrecord

import (
	"bufio"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/tensor"
)

func init() {
	format.Register(format.Format{
		Name:  "tfrecord",
		Exts:  []string{".tfrecord", ".tfrecords", ".tfrecord.gz", ".tfrecords.gz", ".tfrecord.zlib", ".tfrecords.zlib"},
		Sniff: Sniff,
		Open:  openSource,
		// compressed TFRecords have no magic of their own (only gzip's)
		Select: func(name string, opt format.Options) bool {
			return opt.Feature != "" || opt.Compression != "" ||
				strings.Contains(strings.ToLower(filepath.Base(name)), "tfrecord")
		},
	})
}

// Sniff reports whether head starts with a record header whose masked
// CRC matches its length (a 1 in 2^32 chance for other files). GZIP and
// ZLIB files are recognised by extension or by Open, not here.
func Sniff(head []byte) bool { return ValidHeader(head) }

// Compression names what wraps a file: "" (none), "gzip" or "zlib",
// from opt (the user's choice), the file name, then the magic bytes of
// head when head is not a record header.
func Compression(opt, name string, head []byte) (string, error) {
	switch c := strings.ToLower(opt); c {
	case "gzip", "zlib":
		return c, nil
	case "none":
		return "", nil
	case "":
	default:
		return "", errf(tensor.ErrUnsupported, name, -1, "unknown compression %q (want none, gzip or zlib)", opt)
	}
	lname := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lname, ".gz") || strings.HasSuffix(lname, ".gzip"):
		return "gzip", nil
	case strings.HasSuffix(lname, ".zlib") || strings.HasSuffix(lname, ".zz"):
		return "zlib", nil
	}
	if len(head) >= 2 && !ValidHeader(head) {
		if head[0] == 0x1f && head[1] == 0x8b {
			return "gzip", nil
		}
		// RFC 1950: deflate, window ≤ 32K, header checksum
		if head[0]&0x0f == 8 && head[0]>>4 <= 7 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			return "zlib", nil
		}
	}
	return "", nil
}

// Decompress wraps r for compression "gzip" or "zlib" ("" returns r).
func Decompress(r io.Reader, compression, name string) (io.Reader, error) {
	switch compression {
	case "":
		return r, nil
	case "gzip":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, errf(tensor.ErrCorrupt, name, 0, "not a valid GZIP stream: %v", err)
		}
		return z, nil
	case "zlib":
		z, err := zlib.NewReader(r)
		if err != nil {
			return nil, errf(tensor.ErrCorrupt, name, 0, "not a valid ZLIB stream: %v", err)
		}
		return z, nil
	}
	return nil, errf(tensor.ErrUnsupported, name, -1, "unknown compression %q", compression)
}

func openSource(src format.Source, opt format.Options) (*format.Input, error) {
	var head []byte
	var stream io.Reader
	if src.R != nil {
		head = make([]byte, min(src.Size, headerLen))
		if _, err := src.R.ReadAt(head, 0); err != nil && err != io.EOF {
			return nil, fmt.Errorf("tfrecord: %s: %w", src.Name, err)
		}
	} else if src.Stream != nil {
		br := bufio.NewReaderSize(src.Stream, 1<<16)
		head, _ = br.Peek(headerLen)
		stream = br
	} else {
		return nil, errf(tensor.ErrUnsupported, src.Name, -1, "no input")
	}
	comp, err := Compression(opt.Compression, src.Name, head)
	if err != nil {
		return nil, err
	}
	var t *tensor.Tensor
	if comp == "" && src.R != nil {
		t, err = Open(src.R, src.Size, src.Name, opt.Feature)
	} else {
		if stream == nil {
			stream = io.NewSectionReader(src.R, 0, src.Size)
		}
		var d io.Reader
		if d, err = Decompress(stream, comp, src.Name); err != nil {
			return nil, err
		}
		if t, err = OpenStream(bufio.NewReaderSize(d, 1<<16), src.Name, opt.Feature); err == nil && comp != "" {
			t.Extra["compression"] = comp
			if src.R != nil {
				t.Stream = countableStream(t.Stream, src.R, src.Size, comp)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return &format.Input{Format: "tfrecord", Tensors: []*tensor.Tensor{t}}, nil
}
