package codec

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"

	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// PII handling (hem.options.v1.field pii) shapes the published bytes;
// validation sees the real values, so rules such as string.email still hold:
//
//   - HASH: strings become the hex HMAC-SHA256 of the value under the
//     collector's secret salt, bytes the raw HMAC; google.protobuf.StringValue
//     and BytesValue are hashed inside. Equal inputs give equal outputs, so
//     hashed columns still join. Numbers, enums, bools and other messages
//     cannot hold a hash: they are redacted.
//   - REDACT: strings become "REDACTED", bytes empty, numbers and enums zero,
//     bools false; a message field is left out (a repeated one keeps its
//     count with empty elements).
//   - DROP: the field is cleared.
//   - ENCRYPT, ENCRYPT_DETERMINISTIC: the value is encrypted with the
//     Encoder's Keys (see crypt.go and package fieldcrypt).
//
// Fields that are not set stay unset. Repeated fields apply the handling to
// each element and maps to each value; PII fields nested in messages, lists
// and maps are found at any depth.

// Redacted replaces strings under PII_HANDLING_REDACT.
const Redacted = "REDACTED"

// Hasher computes HMAC-SHA256 under the salt; it pools the HMAC state. It
// is safe for concurrent use.
type Hasher struct {
	pool sync.Pool
}

// NewHasher returns a Hasher keyed with salt.
func NewHasher(salt []byte) *Hasher {
	key := append([]byte(nil), salt...)
	return &Hasher{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

func (h *Hasher) sum(b []byte) []byte {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	m.Write(b)
	out := m.Sum(make([]byte, 0, sha256.Size))
	h.pool.Put(m)
	return out
}

func (h *Hasher) hexString(s string) string {
	return hex.EncodeToString(h.sum([]byte(s)))
}

// isHashableWrapper: StringValue and BytesValue keep their presence and get
// their inner value hashed (or redacted).
func isHashableWrapper(md protoreflect.MessageDescriptor, handling optionsv1.PiiHandling) bool {
	if handling == optionsv1.PiiHandling_PII_HANDLING_DROP {
		return false
	}
	switch md.FullName() {
	case "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return true
	}
	return false
}

// looksHashed reports whether s could be a HASH output: 64 lowercase hex
// digits.
func looksHashed(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
