package source

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"sync/atomic"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// The spill is what pass 1 made of the object's records, written to a
// temporary file so that pass 2 publishes it instead of reading and mapping
// the object a second time. It holds every input exactly as pass 2 would
// build it from the object (id, payload, event time, origin; or the
// rejection of a record that could not be read or mapped), one block per
// batch, in the object's order, so pass 2's batches and checkpoints are the
// same whichever it reads.
//
// Only the Load that ran pass 1 has a spill: a loader taking a LOADING
// entry over reads the object from the checkpoint, as before. A spill that
// grows over its cap, or that cannot be written, is dropped and pass 2
// reads the object.
//
// Block: uvarint len(body), CRC-32C of body (4 bytes, little endian), body.
// Body: uvarint count, then count records:
//
//	kind byte (spillEvent, spillRejected), varint number, varint line,
//	string entry, string event id, then
//	spillEvent:    varint seconds, uvarint nanos (event time), bytes payload,
//	               varint checked (the schema id pass 1's Check accepted it with),
//	               byte prepared (spillNotPrepared; spillPreparedPayload: the
//	               core publishes the payload itself; spillPreparedData: bytes
//	               data follow), then, when prepared, string entity key
//	spillRejected: string message, string field path, string rule id,
//	               string violation message, string record (Origin.record)
//
// (strings and bytes: uvarint length, then the bytes).
//
// On disk each block is sealed with AES-256-GCM under a key made for the
// spill and held only in memory, its nonce the block's number: payloads
// hold PII fields before the collector hashes them, and nothing of them
// rests in clear, nor can a block be changed, dropped or reordered
// unnoticed. Frame: 4-byte little-endian length of the sealed block, then
// the sealed block.

const (
	spillEvent    byte = 1
	spillRejected byte = 2
)

// What pass 1's Check prepared of an event (Input.Prepared).
const (
	spillNotPrepared     byte = 0
	spillPreparedPayload byte = 1 // the payload's bytes, as they are
	spillPreparedData    byte = 2
)

var (
	errSpillFull = errors.New("source: the spill reached its cap")
	// errSpillCorrupt is a spill that does not read back as written: a bug
	// or a damaged disk. Pass 2 stops with it and the entry stays LOADING
	// at its checkpoint, so the next attempt reads the object.
	errSpillCorrupt = errors.New("source: the spill is corrupt")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// spillRecord is one record of a spill block, decoded.
type spillRecord struct {
	kind         byte
	number, line int64
	entry, id    string
	seconds      int64
	nanos        int32
	payload      []byte
	checked      int64
	prepared     byte
	data         []byte // Prepared.Data
	key          string // Prepared.EntityKey
	message      string
	fieldPath    string
	ruleID       string
	violation    string
	record       string
}

// appendSpillBlock appends the block of a batch's inputs, one per item (same
// order), to dst.
func appendSpillBlock(dst []byte, inputs []Input, items []item) []byte {
	start := len(dst)
	// Room for the longest header; the body is moved into place after.
	dst = append(dst, make([]byte, binary.MaxVarintLen64+4)...)
	body := len(dst)
	dst = binary.AppendUvarint(dst, uint64(len(inputs)))
	for i, in := range inputs {
		e, o := in.Event, in.Origin
		kind := spillEvent
		if in.Rejection != nil {
			kind = spillRejected
		}
		dst = append(dst, kind)
		dst = binary.AppendVarint(dst, items[i].rec.Number)
		dst = binary.AppendVarint(dst, o.GetLine())
		dst = appendSpillString(dst, o.GetEntry())
		dst = appendSpillString(dst, e.GetEventId())
		if kind == spillEvent {
			dst = binary.AppendVarint(dst, e.GetEventTime().GetSeconds())
			dst = binary.AppendUvarint(dst, uint64(uint32(e.GetEventTime().GetNanos())))
			dst = append(binary.AppendUvarint(dst, uint64(len(e.GetPayload().GetValue()))), e.GetPayload().GetValue()...)
			dst = binary.AppendVarint(dst, in.Checked)
			switch p := in.Prepared; {
			case p == nil:
				dst = append(dst, spillNotPrepared)
			case bytes.Equal(p.Data, e.GetPayload().GetValue()):
				dst = appendSpillString(append(dst, spillPreparedPayload), p.EntityKey)
			default:
				dst = append(binary.AppendUvarint(append(dst, spillPreparedData), uint64(len(p.Data))), p.Data...)
				dst = appendSpillString(dst, p.EntityKey)
			}
			continue
		}
		r := in.Rejection
		var v *eventv1.Violation
		if len(r.Violations) > 0 {
			v = r.Violations[0]
		}
		dst = appendSpillString(dst, r.Message)
		dst = appendSpillString(dst, v.GetFieldPath())
		dst = appendSpillString(dst, v.GetRuleId())
		dst = appendSpillString(dst, v.GetMessage())
		dst = appendSpillString(dst, o.GetRecord())
	}
	n := len(dst) - body
	var hdr [binary.MaxVarintLen64 + 4]byte
	h := binary.AppendUvarint(hdr[:0], uint64(n))
	h = binary.LittleEndian.AppendUint32(h, crc32.Checksum(dst[body:], castagnoli))
	copy(dst[start:], h)
	copy(dst[start+len(h):], dst[body:])
	return dst[:start+len(h)+n]
}

func appendSpillString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// spillDecoder reads a block body; every read checks the bytes are there.
type spillDecoder struct {
	b   []byte
	err error
}

func (d *spillDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errSpillCorrupt, what)
	}
	d.b = nil
}

func (d *spillDecoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spillDecoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spillDecoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *spillDecoder) str(what string) string { return string(d.bytes(what)) }

// decodeSpillBlock decodes a block's body (CRC already checked) into
// records, reusing recs' storage. Payloads point into body.
func decodeSpillBlock(body []byte, recs []spillRecord) ([]spillRecord, error) {
	d := spillDecoder{b: body}
	n := d.uvarint("record count")
	// A record takes at least 5 bytes: a count above that is a lie.
	if n > uint64(len(d.b))/5 {
		return nil, fmt.Errorf("%w: %d records in a block of %d bytes", errSpillCorrupt, n, len(body))
	}
	recs = recs[:0]
	for range n {
		if len(d.b) == 0 {
			d.fail("record")
			break
		}
		r := spillRecord{kind: d.b[0]}
		d.b = d.b[1:]
		r.number = d.varint("number")
		r.line = d.varint("line")
		r.entry = d.str("entry")
		r.id = d.str("event id")
		switch r.kind {
		case spillEvent:
			r.seconds = d.varint("event time")
			nanos := d.uvarint("event time")
			if nanos >= 1e9 {
				d.fail("event time nanos")
			}
			r.nanos = int32(nanos)
			r.payload = d.bytes("payload")
			r.checked = d.varint("checked")
			if len(d.b) == 0 {
				d.fail("prepared")
				break
			}
			r.prepared, d.b = d.b[0], d.b[1:]
			switch r.prepared {
			case spillNotPrepared:
			case spillPreparedPayload:
				r.data, r.key = r.payload, d.str("entity key")
			case spillPreparedData:
				r.data, r.key = d.bytes("prepared data"), d.str("entity key")
			default:
				d.fail(fmt.Sprintf("prepared kind %d", r.prepared))
			}
		case spillRejected:
			r.message = d.str("message")
			r.fieldPath = d.str("field path")
			r.ruleID = d.str("rule id")
			r.violation = d.str("violation")
			r.record = d.str("record")
		default:
			d.fail(fmt.Sprintf("record kind %d", r.kind))
		}
		if d.err != nil {
			return nil, d.err
		}
		if len(recs) > 0 && r.number <= recs[len(recs)-1].number {
			return nil, fmt.Errorf("%w: record %d after %d", errSpillCorrupt, r.number, recs[len(recs)-1].number)
		}
		recs = append(recs, r)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the block's records", errSpillCorrupt, len(d.b))
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: an empty block", errSpillCorrupt)
	}
	return recs, nil
}

// readSpillBlock reads the next block of r, which holds left bytes, and
// returns its body and the bytes it took; io.EOF when r ends between
// blocks.
func readSpillBlock(r spillSource, left int64) (body []byte, took int64, err error) {
	n, err := binary.ReadUvarint(r)
	if errors.Is(err, io.EOF) {
		return nil, 0, io.EOF
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: block length: %w", errSpillCorrupt, err)
	}
	hdr := int64(binary.PutUvarint(make([]byte, binary.MaxVarintLen64), n)) + 4
	if n == 0 || n > uint64(max(left-hdr, 0)) {
		return nil, 0, fmt.Errorf("%w: a block of %d bytes where %d are left", errSpillCorrupt, n, left)
	}
	var sum [4]byte
	body = make([]byte, n)
	for _, p := range [][]byte{sum[:], body} {
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, 0, fmt.Errorf("%w: a block cut short: %w", errSpillCorrupt, err)
		}
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(sum[:]) {
		return nil, 0, fmt.Errorf("%w: block checksum mismatch", errSpillCorrupt)
	}
	return body, hdr + int64(n), nil
}

// spillBuffers holds the buffers of blocks written (by pass 1's main
// loop) for the next blocks (made by its workers).
var spillBuffers = sync.Pool{New: func() any { return new([]byte) }}

func getSpillBuffer() []byte { return (*spillBuffers.Get().(*[]byte))[:0] }

func putSpillBuffer(b []byte) {
	if cap(b) > 4<<20 {
		return // a batch of huge records: let it go
	}
	spillBuffers.Put(&b)
}

// spillSource is what a spill is read from (a *bufio.Reader).
type spillSource interface {
	io.Reader
	io.ByteReader
}

// spill is the temporary file of one Load. Pass 1 writes it from one
// goroutine, pass 2 reads it from one goroutine.
type spill struct {
	f *os.File
	w *bufio.Writer
	// size is the bytes of the blocks written, disk the bytes of their
	// frames in the file.
	size, disk int64
	cap        int64
	aead       cipher.AEAD
	sealed     []byte // the frame being written
	blocks     uint64
	// dropped: over the cap or a write failed; pass 2 reads the object.
	dropped error
	// off is dropped != nil for pass 1's workers, which then stop
	// making blocks.
	off atomic.Bool
}

const spillBuffer = 1 << 20

// newSpill creates the spill file in dir. Its name is removed at once (on
// systems that allow it): the file lives as long as it is open, so a
// loader killed with -9 leaves nothing behind.
func newSpill(dir string, maxBytes int64) (*spill, error) {
	f, err := os.CreateTemp(dir, "hem-spill-*")
	if err != nil {
		return nil, fmt.Errorf("source: spill: %w", err)
	}
	_ = os.Remove(f.Name()) // where an open file cannot be removed, close removes it
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("source: spill key: %w", err)
	}
	aead, err := newSpillAEAD(key[:])
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &spill{f: f, w: bufio.NewWriterSize(f, spillBuffer), cap: maxBytes, aead: aead}, nil
}

func newSpillAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("source: spill: %w", err)
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("source: spill: %w", err)
	}
	return aead, nil
}

// spillNonce is block n's nonce: each key seals each number once.
func spillNonce(dst []byte, n uint64) []byte {
	clear(dst)
	binary.LittleEndian.PutUint64(dst, n)
	return dst
}

// spillFrameMax bounds a sealed block's length field (4 bytes).
const spillFrameMax = 1<<32 - 1

// write appends a block; over the cap or on a write error the spill is
// dropped (and its file truncated), and write returns why.
func (s *spill) write(block []byte) error {
	if s.dropped != nil {
		return s.dropped
	}
	frame := int64(4 + len(block) + s.aead.Overhead())
	if s.disk+frame > s.cap || frame > spillFrameMax {
		s.drop(fmt.Errorf("%w of %d bytes", errSpillFull, s.cap))
		return s.dropped
	}
	var nonce [12]byte
	s.sealed = binary.LittleEndian.AppendUint32(s.sealed[:0], uint32(frame-4))
	s.sealed = s.aead.Seal(s.sealed, spillNonce(nonce[:], s.blocks), block, nil)
	if _, err := s.w.Write(s.sealed); err != nil {
		s.drop(fmt.Errorf("source: spill: %w", err))
		return s.dropped
	}
	s.blocks++
	s.size += int64(len(block))
	s.disk += frame
	return nil
}

func (s *spill) drop(why error) {
	s.dropped = why
	s.off.Store(true)
	s.w.Reset(io.Discard)
	_ = s.f.Truncate(0) // give the disk back now
}

// reader flushes what was written and returns a reader from the start.
func (s *spill) reader() (*bufio.Reader, error) {
	if s.dropped != nil {
		return nil, s.dropped
	}
	if err := s.w.Flush(); err != nil {
		s.drop(fmt.Errorf("source: spill: %w", err))
		return nil, s.dropped
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		s.drop(fmt.Errorf("source: spill: %w", err))
		return nil, s.dropped
	}
	return bufio.NewReaderSize(&spillOpener{r: bufio.NewReaderSize(s.f, spillBuffer), aead: s.aead, left: s.disk}, spillBuffer), nil
}

// spillOpener reads the blocks of a spill file back, opening each frame
// in order.
type spillOpener struct {
	r       *bufio.Reader
	aead    cipher.AEAD
	left    int64 // bytes of frames not read yet
	n       uint64
	sealed  []byte
	opened  []byte
	pending []byte
}

func (o *spillOpener) Read(p []byte) (int, error) {
	for len(o.pending) == 0 {
		if o.left == 0 {
			return 0, io.EOF
		}
		var hdr [4]byte
		if _, err := io.ReadFull(o.r, hdr[:]); err != nil {
			return 0, fmt.Errorf("%w: a frame cut short: %w", errSpillCorrupt, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:]))
		if n < int64(o.aead.Overhead()) || n > o.left-4 {
			return 0, fmt.Errorf("%w: a frame of %d bytes where %d are left", errSpillCorrupt, n, o.left-4)
		}
		if int64(cap(o.sealed)) < n {
			o.sealed = make([]byte, n)
		}
		o.sealed = o.sealed[:n]
		if _, err := io.ReadFull(o.r, o.sealed); err != nil {
			return 0, fmt.Errorf("%w: a frame cut short: %w", errSpillCorrupt, err)
		}
		var nonce [12]byte
		opened, err := o.aead.Open(o.opened[:0], spillNonce(nonce[:], o.n), o.sealed, nil)
		if err != nil {
			return 0, fmt.Errorf("%w: block %d does not authenticate", errSpillCorrupt, o.n)
		}
		o.opened, o.pending = opened, opened
		o.n++
		o.left -= 4 + n
	}
	n := copy(p, o.pending)
	o.pending = o.pending[n:]
	return n, nil
}

// close deletes the spill.
func (s *spill) close() {
	name := s.f.Name()
	_ = s.f.Close()
	_ = os.Remove(name)
}
