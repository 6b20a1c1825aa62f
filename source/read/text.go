package read

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// chunk bounds one Read of text: a parser's read-ahead past the record it
// is on is at most this, which keeps the record limit exact to a chunk and
// the retained bytes to a record plus a chunk.
const chunk = 64 << 10

// errRecordTooLong is returned by text when the bytes since the last mark
// pass the record limit; the parser words the reason (it knows what a
// record is).
var errRecordTooLong = errors.New("record too long")

// text is the decoded (UTF-8) text of one entry on its way to a parser. It
// counts lines, drops skip_lines, fails on NUL bytes (binary data), on
// invalid UTF-8 and on a line longer than maxLine, and optionally retains
// the bytes since the parser's last mark so that a record's raw bytes can be
// cut out of the stream after the parser consumed them.
type text struct {
	r       io.Reader
	check   bool  // validate UTF-8 (false for text decoded from Latin-1: valid by construction)
	skip    int   // lines still to drop
	maxLine int64 // 0: no line limit
	maxRec  int64 // 0: no record limit
	retain  bool

	pos     int64 // offset (in the text handed out) of the next byte
	lines   int64 // newlines seen, skipped lines included
	lineLen int64 // bytes since the last newline
	carry   []byte
	err     error // held until the bytes before the fault are consumed

	mark     int64 // offset of the parser's current record
	markLine int64 // 1-based line at mark
	keep     []byte
	ks       int // keep[ks:] holds [mark, pos)
}

func newText(r io.Reader, check bool, skip int, maxLine, maxRec int64, retain bool) *text {
	return &text{r: r, check: check, skip: skip, maxLine: maxLine, maxRec: maxRec, retain: retain, markLine: int64(skip) + 1}
}

// line is the 1-based line of the byte at off within p, p starting at t.pos.
func (t *text) lineAt(p []byte, i int) int64 {
	return t.lines + int64(bytes.Count(p[:i], nl)) + 1
}

var nl = []byte{'\n'}

func (t *text) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if len(p) > chunk {
		p = p[:chunk]
	}
	for {
		n, err := t.r.Read(p)
		if n > 0 && t.skip > 0 {
			n = t.dropSkipped(p[:n])
			if t.err != nil {
				return 0, t.err
			}
		}
		if n == 0 {
			if err == io.EOF && len(t.carry) > 0 {
				t.err = fileErr(nil, "line %d is not valid UTF-8 (the file ends inside a character)", t.lines+1)
				return 0, t.err
			}
			if err != nil {
				return 0, err
			}
			continue
		}
		n = t.inspect(p[:n])
		if t.err != nil && n == 0 {
			return 0, t.err
		}
		if err == io.EOF && len(t.carry) > 0 && t.err == nil {
			t.err = fileErr(nil, "line %d is not valid UTF-8 (the file ends inside a character)", t.lines+1)
		}
		t.account(p[:n])
		if err != nil && t.err == nil {
			t.err = err
		}
		return n, nil
	}
}

// dropSkipped removes the lines still to skip from the front of p.
func (t *text) dropSkipped(p []byte) int {
	i := 0
	for t.skip > 0 {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			t.lineLen += int64(len(p) - i)
			if t.maxLine > 0 && t.lineLen > t.maxLine {
				t.err = fileErr(nil, "line %d is longer than %s", t.lines+1, size(t.maxLine))
			}
			return 0
		}
		if t.maxLine > 0 && t.lineLen+int64(j) > t.maxLine {
			t.err = fileErr(nil, "line %d is longer than %s", t.lines+1, size(t.maxLine))
			return 0
		}
		i += j + 1
		t.lines++
		t.lineLen = 0
		t.skip--
	}
	return copy(p, p[i:])
}

// inspect checks p and returns how much of it is good; past that, t.err
// says why not.
func (t *text) inspect(p []byte) int {
	n := len(p)
	if i := bytes.IndexByte(p, 0); i >= 0 {
		n = i
		t.err = fileErr(nil, "line %d holds a NUL byte: binary data, not text", t.lineAt(p, i))
	}
	if t.check {
		if i := t.validUTF8(p[:n]); i >= 0 {
			n = i
			t.err = fileErr(nil, "line %d is not valid UTF-8", t.lineAt(p, i))
		}
	}
	if t.maxLine > 0 {
		ll := t.lineLen
		q := p[:n]
		off := 0
		for {
			j := bytes.IndexByte(q[off:], '\n')
			end := len(q)
			if j >= 0 {
				end = off + j
			}
			if ll+int64(end-off) > t.maxLine {
				n = off + int(t.maxLine-ll)
				t.err = fileErr(nil, "line %d is longer than %s", t.lineAt(p, off), size(t.maxLine))
				break
			}
			if j < 0 {
				break
			}
			off = end + 1
			ll = 0
		}
	}
	if t.maxRec > 0 && t.pos+int64(n)-t.mark > t.maxRec+chunk {
		n = max(int(t.mark+t.maxRec+chunk-t.pos), 0)
		t.err = errRecordTooLong
	}
	return n
}

// validUTF8 returns the offset of the first byte of p that is not valid
// UTF-8, or -1; an incomplete character at the end is carried to the next
// chunk.
func (t *text) validUTF8(p []byte) int {
	start := 0
	if len(t.carry) > 0 {
		var b [utf8.UTFMax]byte
		k := copy(b[:], t.carry)
		for k < utf8.UTFMax && start < len(p) && !utf8.FullRune(b[:k]) {
			b[k] = p[start]
			k++
			start++
		}
		if !utf8.FullRune(b[:k]) {
			t.carry = append(t.carry[:0], b[:k]...)
			return -1
		}
		if r, _ := utf8.DecodeRune(b[:k]); r == utf8.RuneError {
			return 0
		}
		t.carry = t.carry[:0]
	}
	// Cut an incomplete character at the end: it is checked with the next chunk.
	end := len(p)
	for i := len(p) - 1; i >= start && i >= len(p)-utf8.UTFMax; i-- {
		if p[i]&0xC0 != 0x80 {
			if !utf8.FullRune(p[i:]) {
				end = i
			}
			break
		}
	}
	if utf8.Valid(p[start:end]) {
		t.carry = append(t.carry[:0], p[end:]...)
		return -1
	}
	for i := start; i < end; {
		r, w := utf8.DecodeRune(p[i:end])
		if r == utf8.RuneError && w <= 1 {
			return i
		}
		i += w
	}
	return -1
}

// account counts the lines of p, handed out, and retains it.
func (t *text) account(p []byte) {
	if k := bytes.LastIndexByte(p, '\n'); k >= 0 {
		t.lines += int64(bytes.Count(p, nl))
		t.lineLen = int64(len(p) - k - 1)
	} else {
		t.lineLen += int64(len(p))
	}
	t.pos += int64(len(p))
	if t.retain {
		if t.ks > chunk && t.ks > len(t.keep)/2 {
			t.keep = t.keep[:copy(t.keep, t.keep[t.ks:])]
			t.ks = 0
		}
		t.keep = append(t.keep, p...)
	}
}

// between returns the retained bytes [from, to) (mark <= from <= to <= pos).
func (t *text) between(from, to int64) []byte {
	return t.keep[t.ks+int(from-t.mark) : t.ks+int(to-t.mark)]
}

// setMark says the parser's next record starts at off: the bytes before it
// are no longer retained.
func (t *text) setMark(off int64) {
	if t.retain {
		k := int(off - t.mark)
		t.markLine += int64(bytes.Count(t.keep[t.ks:t.ks+k], nl))
		t.ks += k
	}
	t.mark = off
}
