package read

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// csvParser reads delimited text with a header line. Raw is cut out of the
// input with csv.Reader.InputOffset (the line as it was, in UTF-8), not
// re-encoded: a rejected line shows up in _failed_events exactly as the
// supplier wrote it.
type csvParser struct {
	t      *text
	r      *csv.Reader
	header []string
	skip   int64
	// arena holds the Raw of the records read, many to an allocation.
	arena []byte
}

// rawChunk is the size of an arena of Raw lines; a longer line gets its
// own allocation.
const rawChunk = 64 << 10

func newCSV(in io.Reader, c *sourcev1.Csv, lim Limits) (*csvParser, error) {
	check := c.GetEncoding() != sourcev1.Encoding_ENCODING_LATIN1
	t := newText(in, check, int(c.GetSkipLines()), lim.MaxRecordBytes, lim.MaxRecordBytes, true)
	r := csv.NewReader(t)
	if d := c.GetDelimiter(); d != "" {
		r.Comma, _ = utf8.DecodeRuneInString(d)
	}
	r.LazyQuotes = c.GetLazyQuotes()
	p := &csvParser{t: t, r: r, skip: int64(c.GetSkipLines())}
	header, err := r.Read()
	if err != nil {
		if err == io.EOF {
			if c.GetSkipLines() > 0 {
				return nil, fileErr(nil, "no header line after the %d lines skipped", c.GetSkipLines())
			}
			return nil, fileErr(nil, "empty file")
		}
		return nil, p.fileError(err, "header")
	}
	if missing := missingColumns(c.GetColumns(), header); missing != "" {
		return nil, fileErr(nil, "header lacks %s", missing)
	}
	p.header = header
	t.setMark(r.InputOffset())
	return p, nil
}

func (p *csvParser) fileError(err error, what string) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, errRecordTooLong) {
		return fileErr(nil, "the %s starting on line %d is longer than %s (an unclosed quote?)", what, p.t.markLine, size(p.t.maxRec))
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fileErr(pe.Err, "the %s on line %d is not valid CSV", what, int64(pe.StartLine)+p.skip)
	}
	return fileErr(err, "cannot read the file")
}

var crlf = []byte("\r\n")

func (p *csvParser) next() (Record, error) {
	values, err := p.r.Read()
	if err != nil {
		return p.readError(values, err)
	}
	rec := Record{Header: p.header, Raw: p.raw()}
	line, _ := p.r.FieldPos(0)
	rec.Line = int64(line) + p.skip
	rec.Values = values
	return rec, nil
}

// readError is next's path for an error (apart, so that the usual path
// allocates nothing for errors.As).
func (p *csvParser) readError(values []string, err error) (Record, error) {
	if err == io.EOF {
		return Record{}, io.EOF
	}
	var pe *csv.ParseError
	var fault *FileError
	if errors.As(err, &pe) && errors.As(p.t.err, &fault) {
		// csv reports a parse error of a line cut short by a fault of the
		// text before the fault itself: the fault is the news.
		err = fault
	}
	if !errors.As(err, &pe) {
		return Record{}, p.fileError(err, "record")
	}
	rec := Record{Header: p.header, Raw: p.raw(), Line: int64(pe.StartLine) + p.skip}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		return Record{}, &RecordError{Record: rec, Err: fmt.Errorf("%d fields where the header has %d", len(values), len(p.header))}
	}
	return Record{}, &RecordError{Record: rec, Err: pe.Err}
}

// raw cuts the record csv just read out of the text, and moves the mark
// past it.
func (p *csvParser) raw() []byte {
	end := p.r.InputOffset()
	raw := p.t.between(p.t.mark, end)
	// Before the record: the empty lines csv skipped ("\n", "\r\n").
	for {
		if b, ok := bytes.CutPrefix(raw, nl); ok {
			raw = b
		} else if b, ok := bytes.CutPrefix(raw, crlf); ok {
			raw = b
		} else {
			break
		}
	}
	switch {
	case bytes.HasSuffix(raw, crlf):
		raw = raw[:len(raw)-2]
	case bytes.HasSuffix(raw, nl):
		raw = raw[:len(raw)-1]
	default: // the end of the input, where csv drops a final "\r"
		raw = bytes.TrimSuffix(raw, []byte{'\r'})
	}
	out := p.clone(raw)
	p.t.setMark(end)
	return out
}

// clone copies raw into the arena, capped: appending to a record's Raw
// never writes into the next one's.
func (p *csvParser) clone(raw []byte) []byte {
	if len(raw) == 0 || len(raw) > rawChunk/8 {
		return bytes.Clone(raw)
	}
	if len(raw) > cap(p.arena)-len(p.arena) {
		p.arena = make([]byte, 0, rawChunk)
	}
	n := len(p.arena)
	p.arena = append(p.arena, raw...)
	return p.arena[n:len(p.arena):len(p.arena)]
}

// missingColumns names the declared columns that have lacks ("column a" or
// "columns a, b"), or "" when it has them all.
func missingColumns(declared, have []string) string {
	var missing []string
	for _, col := range declared {
		if !slices.Contains(have, col) {
			missing = append(missing, col)
		}
	}
	switch len(missing) {
	case 0:
		return ""
	case 1:
		return "column " + missing[0]
	}
	return "columns " + strings.Join(missing, ", ")
}
