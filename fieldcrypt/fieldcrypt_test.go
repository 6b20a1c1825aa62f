package fieldcrypt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/fieldcrypt"
)

const typ = "shop.members.v1.MemberRegistered"

func newKeyring(t *testing.T, opts ...fieldcrypt.Option) (*fieldcrypt.Keyring, *fieldcrypt.DirStore, tink.AEAD) {
	t.Helper()
	dir := t.TempDir()
	kek, err := fieldcrypt.LocalKEK(filepath.Join(dir, "master.json"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := fieldcrypt.NewDirStore(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := fieldcrypt.NewKeyring(store, kek, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return kr, store, kek
}

// tinkHandle reads a wrapped keyset the way BigQuery's KEYS.KEYSET_CHAIN
// does: KEK-decrypt the bytes into a serialized Tink keyset.
func tinkHandle(t *testing.T, wrapped []byte, kek tink.AEAD) *keyset.Handle {
	t.Helper()
	enc, err := proto.Marshal(&tinkpb.EncryptedKeyset{EncryptedKeyset: wrapped})
	if err != nil {
		t.Fatal(err)
	}
	h, err := keyset.Read(keyset.NewBinaryReader(bytes.NewReader(enc)), kek)
	if err != nil {
		t.Fatalf("Tink does not read the wrapped keyset: %v", err)
	}
	return h
}

// TestTinkDecrypts: what the collector writes, Tink's own primitives built
// from the stored keyset decrypt, with the field's full name as associated
// data; the ciphertext carries Tink's prefix with the primary key's id.
func TestTinkDecrypts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	kr, _, kek := newKeyring(t, fieldcrypt.WithCreate())
	need := fieldcrypt.NeedOf(fieldcrypt.AEAD, fieldcrypt.DataSubject) | fieldcrypt.NeedOf(fieldcrypt.Deterministic, fieldcrypt.EventType)
	keys, err := kr.Keys(ctx, typ, "member_id", "m-42", need)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte(typ + ".email")
	for _, tc := range []struct {
		kind  fieldcrypt.Kind
		scope fieldcrypt.Scope
		name  fieldcrypt.Name
	}{
		{fieldcrypt.AEAD, fieldcrypt.DataSubject, fieldcrypt.Name{Type: typ, Kind: fieldcrypt.AEAD, SubjectField: "member_id", Subject: "m-42"}},
		{fieldcrypt.Deterministic, fieldcrypt.EventType, fieldcrypt.Name{Type: typ, Kind: fieldcrypt.Deterministic}},
	} {
		ct, err := keys.Seal(tc.kind, tc.scope, []byte("ada@example.com"), aad)
		if err != nil {
			t.Fatal(err)
		}
		// As a string column holds it, and as BigQuery reads it back.
		col := fieldcrypt.EncodeString(ct)
		ct, err = fieldcrypt.DecodeString(col)
		if err != nil {
			t.Fatal(err)
		}
		wrapped, err := kr.Wrapped(ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		h := tinkHandle(t, wrapped, kek)
		if ct[0] != 0x01 || binary.BigEndian.Uint32(ct[1:5]) != h.KeysetInfo().GetPrimaryKeyId() {
			t.Errorf("%v: ciphertext prefix %x, want 01 and key id %08x", tc.name, ct[:5], h.KeysetInfo().GetPrimaryKeyId())
		}
		var got []byte
		if tc.kind == fieldcrypt.AEAD {
			p, err := aead.New(h)
			if err != nil {
				t.Fatal(err)
			}
			got, err = p.Decrypt(ct, aad)
			if err != nil {
				t.Fatalf("%v: Tink does not decrypt: %v", tc.name, err)
			}
			if _, err := p.Decrypt(ct, []byte(typ+".phone")); err == nil {
				t.Errorf("%v: decrypts under another field's associated data", tc.name)
			}
		} else {
			p, err := daead.New(h)
			if err != nil {
				t.Fatal(err)
			}
			got, err = p.DecryptDeterministically(ct, aad)
			if err != nil {
				t.Fatalf("%v: Tink does not decrypt: %v", tc.name, err)
			}
			again, _ := keys.Seal(tc.kind, tc.scope, []byte("ada@example.com"), aad)
			if !bytes.Equal(again, ct) {
				t.Errorf("%v: deterministic encryption gave two ciphertexts", tc.name)
			}
		}
		if string(got) != "ada@example.com" {
			t.Errorf("%v: decrypted %q", tc.name, got)
		}
	}
}

func TestEraseSubject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	kr, store, kek := newKeyring(t, fieldcrypt.WithCreate())
	need := fieldcrypt.NeedOf(fieldcrypt.AEAD, fieldcrypt.DataSubject)
	if _, err := kr.Keys(ctx, typ, "member_id", "42", need); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Keys(ctx, "shop.members.v1.MemberUpdated", "member_id", "42", need); err != nil {
		t.Fatal(err)
	}
	keys7, err := kr.Keys(ctx, typ, "member_id", "7", need)
	if err != nil {
		t.Fatal(err)
	}
	ct7, _ := keys7.Seal(fieldcrypt.AEAD, fieldcrypt.DataSubject, []byte("y"), nil)

	er, err := kr.EraseSubject(ctx, "member_id", "42")
	if err != nil {
		t.Fatal(err)
	}
	if len(er.Deleted) != 2 {
		t.Errorf("erasure deleted %v, want the keys of both event types", er.Deleted)
	}
	// A reader (another process, a fresh keyring) can no longer decrypt 42.
	reader, err := fieldcrypt.NewKeyring(store, kek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Keys(ctx, typ, "member_id", "42", need); !errors.Is(err, fieldcrypt.ErrErased) {
		t.Errorf("reader keys of an erased subject: %v, want ErrErased", err)
	}
	if _, err := kr.Keys(ctx, typ, "member_id", "42", need); !errors.Is(err, fieldcrypt.ErrErased) {
		t.Errorf("collector keys of an erased subject: %v, want ErrErased (no new key)", err)
	}
	k7, err := reader.Keys(ctx, typ, "member_id", "7", need)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k7.Open(fieldcrypt.AEAD, fieldcrypt.DataSubject, ct7, nil); err != nil || string(got) != "y" {
		t.Errorf("other member: %q, %v", got, err)
	}
	if _, err := kr.EraseSubject(ctx, "member_id", "42"); err != nil {
		t.Errorf("erasing again: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	kr, store, kek := newKeyring(t, fieldcrypt.WithCreate())
	need := fieldcrypt.NeedOf(fieldcrypt.AEAD, fieldcrypt.EventType)
	reader, err := fieldcrypt.NewKeyring(store, kek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Keys(ctx, typ, "", "", need); !errors.Is(err, fieldcrypt.ErrNotFound) {
		t.Errorf("reader, no key: %v, want ErrNotFound", err)
	}
	if _, err := kr.Keys(ctx, typ, "member_id", "", fieldcrypt.NeedOf(fieldcrypt.AEAD, fieldcrypt.DataSubject)); !errors.Is(err, fieldcrypt.ErrEmptySubject) {
		t.Errorf("empty subject: %v, want ErrEmptySubject", err)
	}
	// A keyset that is not the KEK's ciphertext.
	n := fieldcrypt.Name{Type: "shop.X", Kind: fieldcrypt.AEAD}
	if err := store.Create(ctx, n.Object(), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Keys(ctx, "shop.X", "", "", need); !errors.Is(err, fieldcrypt.ErrCorrupt) {
		t.Errorf("corrupt keyset: %v, want ErrCorrupt", err)
	}
	// A deterministic keyset stored as an AEAD one.
	if _, err := kr.Keys(ctx, "shop.Y", "", "", fieldcrypt.NeedOf(fieldcrypt.Deterministic, fieldcrypt.EventType)); err != nil {
		t.Fatal(err)
	}
	d := fieldcrypt.Name{Type: "shop.Y", Kind: fieldcrypt.Deterministic}
	w, _ := store.Get(ctx, d.Object())
	if err := store.Create(ctx, fieldcrypt.Name{Type: "shop.Y", Kind: fieldcrypt.AEAD}.Object(), w); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Keys(ctx, "shop.Y", "", "", need); !errors.Is(err, fieldcrypt.ErrCorrupt) {
		t.Errorf("keyset of the wrong kind: %v, want ErrCorrupt", err)
	}
}

func TestCacheExpires(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Unix(1e9, 0)
	kr, store, kek := newKeyring(t, fieldcrypt.WithCreate(), fieldcrypt.WithClock(func() time.Time { return now }))
	need := fieldcrypt.NeedOf(fieldcrypt.AEAD, fieldcrypt.DataSubject)
	if _, err := kr.Keys(ctx, typ, "member_id", "42", need); err != nil {
		t.Fatal(err)
	}
	other, err := fieldcrypt.NewKeyring(store, kek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.EraseSubject(ctx, "member_id", "42"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := kr.Keys(ctx, typ, "member_id", "42", need); !errors.Is(err, fieldcrypt.ErrErased) {
		t.Errorf("after the time to live, an erasure elsewhere: %v, want ErrErased", err)
	}
}
