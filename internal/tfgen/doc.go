// Package tfgen writes small, deterministic TensorFlow files — tensor
// bundles (PREFIX.index + PREFIX.data-NNNNN-of-NNNNN), serialized
// TensorProtos and TFRecord files — so that tests, bench/ and the
// README's shipped sample can make inputs of any size without TensorFlow.
// It streams: a tensor's bytes come from a callback, block by block, so a
// multi-GiB input needs no RAM.
package tfgen
