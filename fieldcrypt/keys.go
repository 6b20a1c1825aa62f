package fieldcrypt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// Need says which keys an event type's encrypted fields use: a bit per
// kind and scope (NeedOf).
type Need uint8

// NeedOf is the bit of the key of kind and scope.
func NeedOf(kind Kind, scope Scope) Need {
	return 1 << ((uint8(kind)-1)*2 + uint8(scope))
}

// Subject says whether n needs a data subject's key.
func (n Need) Subject() bool {
	return n&(NeedOf(AEAD, DataSubject)|NeedOf(Deterministic, DataSubject)) != 0
}

// Keys are the primitives one event's encrypted fields use, resolved
// before its fields are encoded, so that encoding does no I/O. The zero
// Keys has none.
type Keys struct {
	aead  [2]tink.AEAD              // by Scope
	daead [2]tink.DeterministicAEAD // by Scope
}

// Keys resolves the keys need names for one event of type typ whose data
// subject is subjectField=subject (both may be empty when need has no
// DataSubject bit).
func (k *Keyring) Keys(ctx context.Context, typ, subjectField, subject string, need Need) (Keys, error) {
	var out Keys
	for _, kind := range []Kind{AEAD, Deterministic} {
		for _, scope := range []Scope{EventType, DataSubject} {
			if need&NeedOf(kind, scope) == 0 {
				continue
			}
			n := Name{Type: typ, Kind: kind}
			if scope == DataSubject {
				if subjectField == "" {
					return Keys{}, errors.New("fieldcrypt: the event type has no data subject field")
				}
				if subject == "" {
					return Keys{}, fmt.Errorf("%w: %s", ErrEmptySubject, subjectField)
				}
				n.SubjectField, n.Subject = subjectField, subject
			}
			e, err := k.entry(ctx, n)
			if err != nil {
				return Keys{}, err
			}
			if kind == AEAD {
				out.aead[scope] = e.aead
			} else {
				out.daead[scope] = e.daead
			}
		}
	}
	return out, nil
}

// errNoKey is a codec asking for a key it did not declare it needs.
var errNoKey = errors.New("fieldcrypt: no key resolved for this field")

// Seal encrypts plaintext with the key of kind and scope, binding it to
// aad (the field's full name).
func (k *Keys) Seal(kind Kind, scope Scope, plaintext, aad []byte) ([]byte, error) {
	if scope > DataSubject {
		return nil, errNoKey
	}
	switch kind {
	case AEAD:
		if p := k.aead[scope]; p != nil {
			return p.Encrypt(plaintext, aad)
		}
	case Deterministic:
		if p := k.daead[scope]; p != nil {
			return p.EncryptDeterministically(plaintext, aad)
		}
	}
	return nil, errNoKey
}

// Open decrypts ciphertext with the key of kind and scope.
func (k *Keys) Open(kind Kind, scope Scope, ciphertext, aad []byte) ([]byte, error) {
	if scope > DataSubject {
		return nil, errNoKey
	}
	switch kind {
	case AEAD:
		if p := k.aead[scope]; p != nil {
			return p.Decrypt(ciphertext, aad)
		}
	case Deterministic:
		if p := k.daead[scope]; p != nil {
			return p.DecryptDeterministically(ciphertext, aad)
		}
	}
	return nil, errNoKey
}

// EncodeString is how a string field holds a ciphertext: standard base64
// with padding (BigQuery's FROM_BASE64 reads it).
func EncodeString(ciphertext []byte) string { return base64.StdEncoding.EncodeToString(ciphertext) }

// DecodeString is the ciphertext a string field holds.
func DecodeString(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
