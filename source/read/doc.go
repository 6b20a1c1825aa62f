// Package read turns one object (a GCS object pinned to its generation, or a
// local file) into a stream of records, as its source declares: CSV/TSV with
// a header, NDJSON, a JSON array or Parquet; plain, gzip, zstd, or the
// entries of a zip or tar.gz archive.
//
// # Errors
//
// A record that cannot be read while the rest of the file can is a
// *RecordError: the loader rejects that record and goes on. Anything that
// makes the rest of the file unreadable is a *FileError whose Reason a data
// engineer can act on ("truncated gzip stream", "line 7 is longer than 16
// MiB", "header lacks columns designation, price"): the file fails as a
// whole.
//
// # Memory
//
// Nothing is held whole. What one Reader holds, whatever the object's size:
//   - the object is streamed (GCS: one range request at a time, 64 MiB each);
//     zip and Parquet go through an io.ReaderAt of range reads that keeps one
//     request open while reads are sequential;
//   - decompression: gzip's 32 KiB window, zstd's window (refused above 64
//     MiB), flate's for a zip entry; one entry at a time;
//   - text: 64 KiB read buffers, and for CSV the bytes of the current record
//     (to cut out Raw) plus one 64 KiB chunk of read-ahead;
//   - one record: Limits.MaxRecordBytes bounds a line (CSV, NDJSON) and a
//     record (a quoted CSV field across lines, a JSON array element), checked
//     as bytes arrive, so a 2 GB line costs 16 MiB before it fails, not 2 GB;
//   - Parquet: the footer and the pages being read (1 MiB read buffers per
//     column).
//
// Limits.MaxDecompressedBytes and Limits.MaxRatio stop a decompression bomb
// as it inflates; a zip entry declaring more than MaxDecompressedBytes fails
// before it is read.
package read
