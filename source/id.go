package source

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/google/uuid"
)

// Event ids are UUIDs of version 8 (RFC 9562, custom) whose 122 free bits
// are the first bits of a SHA-256 over length-prefixed parts, the first part
// naming the kind of id so that two kinds never collide: the same inputs
// always give the same id, so what is published twice is stored once.

// idBuilder builds ids in a reused buffer; one per goroutine.
type idBuilder struct{ buf []byte }

func (b *idBuilder) reset(kind string) *idBuilder {
	b.buf = b.buf[:0]
	return b.str(kind)
}

func (b *idBuilder) str(s string) *idBuilder {
	b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
	b.buf = append(b.buf, s...)
	return b
}

func (b *idBuilder) bytes(p []byte) *idBuilder {
	b.buf = binary.AppendUvarint(b.buf, uint64(len(p)))
	b.buf = append(b.buf, p...)
	return b
}

func (b *idBuilder) int(n int64) *idBuilder {
	b.buf = binary.AppendVarint(b.buf, n)
	return b
}

func (b *idBuilder) id() string {
	sum := sha256.Sum256(b.buf)
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	return u.String()
}

// keyedID is a keyed record's id: its source, key values and payload, so an
// unchanged record of a new export gets the id it had and a corrected one a
// new id.
func (b *idBuilder) keyedID(source string, key []string, payload []byte) string {
	b.reset("hem.source.keyed").str(source).int(int64(len(key)))
	for _, k := range key {
		b.str(k)
	}
	return b.bytes(payload).id()
}

// recordID is an unkeyed record's id: its place in one generation of one
// object. A local file (no bucket) is named by its URI, which holds its
// whole path.
func (b *idBuilder) recordID(bucket, name, uri string, generation int64, entry string, number int64) string {
	if bucket == "" {
		return b.reset("hem.source.file").str(uri).int(generation).str(entry).int(number).id()
	}
	return b.reset("hem.source.object").str(bucket).str(name).int(generation).str(entry).int(number).id()
}

// fileID is a whole-file FailedEvent's id: its object and the reason code.
func (b *idBuilder) fileID(source, uri string, generation int64, reason string) string {
	return b.reset("hem.source.failed").str(source).str(uri).int(generation).str(reason).id()
}
