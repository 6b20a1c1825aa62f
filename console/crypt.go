package console

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/fieldcrypt"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// FieldKeys opens the fields the collector encrypted, for viewers who may
// decrypt (Viewer.MayDecrypt): a *fieldcrypt.Keyring made without
// WithCreate, over the key store and KEK the collector uses.
type FieldKeys interface {
	AEAD(ctx context.Context, n fieldcrypt.Name) (tink.AEAD, error)
	Deterministic(ctx context.Context, n fieldcrypt.Name) (tink.DeterministicAEAD, error)
}

// encryptedText stands in for an encrypted value a viewer may not
// decrypt: the ciphertext means nothing to anyone, and is never shown.
const encryptedText = "encrypted"

// isEncrypted says whether a PII handling (piiHandling) is encryption.
func isEncrypted(handling string) bool { return strings.HasPrefix(handling, "ENCRYPT") }

// encryptionBadge describes how a field is encrypted, for the contract
// page: "encrypted, per member" for a field keyed by its data subject
// (data_subject_field member_id), "encrypted, per event type" otherwise;
// "deterministic" is added when equal values encrypt equally.
func encryptionBadge(fd protoreflect.FieldDescriptor, subjectField string) string {
	fo := contract.FieldOptions(fd)
	b := "encrypted, per event type"
	if fo.GetKeyScope() == optionsv1.KeyScope_KEY_SCOPE_DATA_SUBJECT {
		b = "encrypted, per " + cmp.Or(strings.TrimSuffix(subjectField, "_id"), "data subject")
	}
	if fo.GetPii() == optionsv1.PiiHandling_PII_HANDLING_ENCRYPT_DETERMINISTIC {
		b += ", deterministic"
	}
	return b
}

// opener decrypts the encrypted fields of one event for a viewer who may.
// A nil *opener decrypts nothing: every encrypted value reads
// encryptedText.
type opener struct {
	ctx  context.Context //nolint:containedctx // one page's request, for the keys it resolves while rendering
	keys FieldKeys
	// typ is the event type; subjectField=subject its data subject.
	typ, subjectField, subject string
}

// keysFor is what decrypts fields for v: nil unless v may decrypt and the
// console has the keys.
func (s *Server) keysFor(v Viewer) FieldKeys {
	if !v.MayDecrypt {
		return nil
	}
	return s.deps.FieldKeys
}

// newOpener is the opener of the event m, whose data subject is named by
// subjectField; nil without keys.
func newOpener(ctx context.Context, keys FieldKeys, m protoreflect.Message, subjectField string) *opener {
	if keys == nil {
		return nil
	}
	o := &opener{ctx: ctx, keys: keys, typ: string(m.Descriptor().FullName()), subjectField: subjectField}
	if subjectField != "" {
		if fd := m.Descriptor().Fields().ByName(protoreflect.Name(subjectField)); fd != nil && m.Has(fd) {
			o.subject = m.Get(fd).String()
		}
	}
	return o
}

// json decrypts the protojson value val of the encrypted field fd: a
// string (base64 of the ciphertext, as string fields hold it and as
// protojson writes bytes), or a list or map of them. What does not
// decrypt reads why.
func (o *opener) json(fd protoreflect.FieldDescriptor, val any) any {
	if o == nil {
		return encryptedText
	}
	vfd := fd
	if fd.IsMap() {
		vfd = fd.MapValue()
	}
	isBytes := vfd.Kind() == protoreflect.BytesKind || (vfd.Message() != nil && vfd.Message().FullName() == "google.protobuf.BytesValue")
	one := func(x any) any {
		s, ok := x.(string)
		if !ok {
			return encryptedText
		}
		pt, err := o.open(fd, s)
		if err != nil {
			return err.Error()
		}
		if isBytes {
			return base64.StdEncoding.EncodeToString(pt)
		}
		return string(pt)
	}
	switch v := val.(type) {
	case []any:
		for i := range v {
			v[i] = one(v[i])
		}
		return v
	case map[string]any:
		for k := range v {
			v[k] = one(v[k])
		}
		return v
	}
	return one(val)
}

// open decrypts one ciphertext in base64 of the field fd.
func (o *opener) open(fd protoreflect.FieldDescriptor, b64 string) ([]byte, error) {
	ct, err := fieldcrypt.DecodeString(b64)
	if err != nil {
		return nil, errors.New("encrypted (not a ciphertext)")
	}
	fo := contract.FieldOptions(fd)
	n := fieldcrypt.Name{Type: o.typ, Kind: fieldcrypt.AEAD}
	if fo.GetPii() == optionsv1.PiiHandling_PII_HANDLING_ENCRYPT_DETERMINISTIC {
		n.Kind = fieldcrypt.Deterministic
	}
	if fo.GetKeyScope() == optionsv1.KeyScope_KEY_SCOPE_DATA_SUBJECT {
		if o.subject == "" {
			return nil, errors.New("encrypted (no data subject)")
		}
		n.SubjectField, n.Subject = o.subjectField, o.subject
	}
	aad := []byte(fd.FullName())
	var pt []byte
	if n.Kind == fieldcrypt.Deterministic {
		var p tink.DeterministicAEAD
		if p, err = o.keys.Deterministic(o.ctx, n); err == nil {
			pt, err = p.DecryptDeterministically(ct, aad)
		}
	} else {
		var p tink.AEAD
		if p, err = o.keys.AEAD(o.ctx, n); err == nil {
			pt, err = p.Decrypt(ct, aad)
		}
	}
	switch {
	case errors.Is(err, fieldcrypt.ErrErased):
		return nil, errors.New("encrypted (erased)")
	case err != nil:
		return nil, fmt.Errorf("encrypted (cannot decrypt: %w)", err)
	}
	return pt, nil
}
