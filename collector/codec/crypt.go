package codec

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/fieldcrypt"
)

// PII_HANDLING_ENCRYPT and PII_HANDLING_ENCRYPT_DETERMINISTIC encrypt a
// string or bytes value (also in lists, map values and StringValue or
// BytesValue wrappers) with the Encoder's Keys, the field's full name as
// associated data (see package fieldcrypt): bytes hold the Tink ciphertext,
// strings its base64. An empty value is encrypted too (where it is
// written at all), so its ciphertext does not tell it is empty.

// errNoKeys: the encode met an encrypted field without keys.
var errNoKeys = errors.New("codec: an encrypted field has no keys")

// encrypt is the encrypted form of v, a string or bytes value of f. On
// failure it records the error and returns the zero value, which the
// caller must not publish (see Encoder.Err).
func (e *Encoder) encrypt(kind protoreflect.Kind, v protoreflect.Value, f *fieldCodec) protoreflect.Value {
	var plain []byte
	if kind == protoreflect.StringKind {
		s := v.String()
		if e.Applied && e.opens(f, s) {
			return v
		}
		plain = []byte(s)
	} else {
		plain = v.Bytes()
		if e.Applied && e.opensBytes(f, plain) {
			return v
		}
	}
	ct, err := e.seal(f, plain)
	if err != nil {
		if e.err == nil {
			e.err = fmt.Errorf("encrypt %s: %w", f.fd.FullName(), err)
		}
		if kind == protoreflect.StringKind {
			return protoreflect.ValueOfString("")
		}
		return protoreflect.ValueOfBytes(nil)
	}
	if kind == protoreflect.StringKind {
		return protoreflect.ValueOfString(fieldcrypt.EncodeString(ct))
	}
	return protoreflect.ValueOfBytes(ct)
}

func (e *Encoder) seal(f *fieldCodec, plain []byte) ([]byte, error) {
	if e.Keys == nil {
		return nil, errNoKeys
	}
	return e.Keys.Seal(f.kind, f.scope, plain, f.aad)
}

// opens reports whether the string s already is a ciphertext of f under
// its key (a replayed FailedEvent): only then is it kept as it is, so a
// clear value never passes for one.
func (e *Encoder) opens(f *fieldCodec, s string) bool {
	ct, err := fieldcrypt.DecodeString(s)
	return err == nil && e.opensBytes(f, ct)
}

func (e *Encoder) opensBytes(f *fieldCodec, ct []byte) bool {
	if e.Keys == nil || len(ct) == 0 {
		return false
	}
	_, err := e.Keys.Open(f.kind, f.scope, ct, f.aad)
	return err == nil
}
