package read

import (
	"errors"
	"fmt"
)

// ErrObjectGone is wrapped by the errors of an object deleted, or replaced by
// a new generation, while it is read.
var ErrObjectGone = errors.New("object is gone")

// FileError says why the rest of a file cannot be read: the file fails as a
// whole. Reason is a short sentence for a data engineer ("truncated gzip
// stream", "line 7 is longer than 16 MiB"); Err is the cause, if any.
type FileError struct {
	Reason string
	Err    error
}

func (e *FileError) Error() string {
	if e.Err == nil {
		return "read: " + e.Reason
	}
	return fmt.Sprintf("read: %s: %v", e.Reason, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// RecordError is one record that cannot be read while the rest of the file
// can (a CSV line with the wrong number of fields, an NDJSON line that is not
// an object): the caller counts it as rejected and calls Next again. Record
// has Entry, Line, Number and Raw set.
type RecordError struct {
	Record Record
	Err    error
}

func (e *RecordError) Error() string {
	if e.Record.Entry != "" {
		return fmt.Sprintf("read: %s line %d: %v", e.Record.Entry, e.Record.Line, e.Err)
	}
	return fmt.Sprintf("read: line %d: %v", e.Record.Line, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

func fileErr(err error, format string, args ...any) *FileError {
	return &FileError{Reason: fmt.Sprintf(format, args...), Err: err}
}

// size renders a byte count the way a reason says it: 16 MiB, 256 GiB, 100 bytes.
func size(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
		tib = 1 << 40
	)
	switch {
	case n >= tib && n%tib == 0:
		return fmt.Sprintf("%d TiB", n/tib)
	case n >= gib && n%gib == 0:
		return fmt.Sprintf("%d GiB", n/gib)
	case n >= mib && n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	case n >= kib && n%kib == 0:
		return fmt.Sprintf("%d KiB", n/kib)
	case n >= gib:
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	}
	return fmt.Sprintf("%d bytes", n)
}
