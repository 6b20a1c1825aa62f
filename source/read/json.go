package read

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// decodeObject decodes one JSON object, numbers as json.Number.
func decodeObject(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: data after the value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a JSON %s, not an object", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return "number"
}

// ndjsonParser reads one JSON object per line; blank lines are skipped.
type ndjsonParser struct {
	t    *text
	br   *bufio.Reader
	buf  []byte
	line int64
	seen bool
}

func newNDJSON(in io.Reader, lim Limits) *ndjsonParser {
	t := newText(in, true, 0, lim.MaxRecordBytes, 0, false)
	return &ndjsonParser{t: t, br: bufio.NewReaderSize(t, chunk)}
}

// readLine returns the next line without its newline; it stays valid until
// the next call. The text's line limit bounds it.
func (p *ndjsonParser) readLine() ([]byte, error) {
	b, err := p.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		p.buf = append(p.buf[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = p.br.ReadSlice('\n')
			p.buf = append(p.buf, b...)
		}
		b = p.buf
	}
	if err == io.EOF && len(b) > 0 {
		err = nil
	}
	return b, err
}

func (p *ndjsonParser) next() (Record, error) {
	for {
		b, err := p.readLine()
		if err != nil {
			if err == io.EOF {
				if !p.seen {
					return Record{}, fileErr(nil, "empty file")
				}
				return Record{}, io.EOF
			}
			var fe *FileError
			if errors.As(err, &fe) {
				return Record{}, fe
			}
			return Record{}, fileErr(err, "cannot read the file")
		}
		p.line++
		b = bytes.TrimRight(b, "\r\n")
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		p.seen = true
		rec := Record{Line: p.line, Raw: bytes.Clone(b)}
		m, err := decodeObject(rec.Raw)
		if err != nil {
			return Record{}, &RecordError{Record: rec, Err: err}
		}
		rec.Object = m
		return rec, nil
	}
}

// jsonArrayParser streams the elements of one JSON array: only the element
// being decoded is in memory.
type jsonArrayParser struct {
	t *text
	d *json.Decoder
	n int64
}

func newJSONArray(in io.Reader, lim Limits) (*jsonArrayParser, error) {
	t := newText(in, true, 0, 0, lim.MaxRecordBytes, false)
	p := &jsonArrayParser{t: t, d: json.NewDecoder(t)}
	tok, err := p.d.Token()
	if err == io.EOF {
		return nil, fileErr(nil, "empty file")
	}
	if err != nil {
		return nil, p.fileError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fileErr(nil, "not a JSON array")
	}
	t.setMark(p.d.InputOffset())
	return p, nil
}

func (p *jsonArrayParser) fileError(err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, errRecordTooLong) {
		return fileErr(nil, "array element %d is longer than %s", p.n+1, size(p.t.maxRec))
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fileErr(nil, "the JSON array ends early (after element %d)", p.n)
	}
	return fileErr(err, "array element %d is not valid JSON", p.n+1)
}

func (p *jsonArrayParser) next() (Record, error) {
	if !p.d.More() {
		tok, err := p.d.Token()
		if err != nil {
			return Record{}, p.fileError(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != ']' {
			return Record{}, fileErr(nil, "array element %d is not valid JSON", p.n+1)
		}
		if _, err := p.d.Token(); err != io.EOF {
			return Record{}, fileErr(nil, "data after the JSON array")
		}
		return Record{}, io.EOF
	}
	var raw json.RawMessage
	if err := p.d.Decode(&raw); err != nil {
		return Record{}, p.fileError(err)
	}
	p.n++
	p.t.setMark(p.d.InputOffset())
	rec := Record{Line: p.n, Raw: raw}
	m, err := decodeObject(raw)
	if err != nil {
		return Record{}, &RecordError{Record: rec, Err: err}
	}
	rec.Object = m
	return rec, nil
}
