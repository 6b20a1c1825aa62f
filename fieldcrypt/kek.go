package fieldcrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// LocalKEK is hem dev's key-encryption key: a Tink AES-256-GCM keyset kept
// in clear in the file at path (created on first use, readable by its owner
// only). It stands in for Cloud KMS on a laptop; whoever reads the file
// reads every field the dev stack encrypted.
func LocalKEK(path string) (tink.AEAD, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = newLocalKEK(path)
	}
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: local master key: %w", err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: local master key %s: %w", path, err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: local master key %s: %w", path, err)
	}
	return a, nil
}

// newLocalKEK writes a new master keyset to path, unless another process
// did first, and returns what path holds.
func newLocalKEK(path string) ([]byte, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return nil, err
	}
	if err := createExclusive(path, buf.Bytes()); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return os.ReadFile(path)
}
