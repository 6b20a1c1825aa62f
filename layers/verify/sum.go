package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Sum digests a set of event ids so that two sides (the archive and a
// warehouse, or an archive range and its restore table) compare without
// shipping the ids: the number of distinct ids and their checksum, the sum
// modulo 2^64 of the first 8 bytes (big-endian) of each id's SHA-256.
// A sum is order independent, and SQL computes it too (sumSQL), as two
// sums of 32-bit halves that cannot overflow a 64-bit integer.
//
// Add each id once: Sum does not deduplicate (a set, or a table with one
// row per id, does).
type Sum struct {
	IDs      int64
	Checksum uint64
}

// Add adds an id.
func (s *Sum) Add(id string) {
	h := sha256.Sum256([]byte(id))
	s.IDs++
	s.Checksum += binary.BigEndian.Uint64(h[:8])
}

// halves builds a Sum from SQL's count and sums of the high and low 32
// bits of each id's checksum term.
func halves(ids, hi, lo int64) Sum {
	return Sum{IDs: ids, Checksum: uint64(hi)<<32 + uint64(lo)}
}

// String is the form the CLI prints: "1234 ids, checksum 0123456789abcdef".
func (s Sum) String() string { return fmt.Sprintf("%d ids, checksum %016x", s.IDs, s.Checksum) }
