package fieldcrypt_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/fieldcrypt"
	"github.com/hemlabs/hem/fieldcrypt/kmstest"
)

const (
	kekName   = "projects/hem-test/locations/us/keyRings/hem-fields/cryptoKeys/hem-field-kek"
	otherName = "projects/hem-test/locations/us/keyRings/hem-fields/cryptoKeys/other"
)

// kmsKEK starts the fake with the keys names and returns the KEK of the
// first, over the production client.
func kmsKEK(t testing.TB, names ...string) (*kmstest.Server, *kms.KeyManagementClient, []tink.AEAD) {
	t.Helper()
	srv := kmstest.Start(t)
	c, err := kms.NewKeyManagementClient(t.Context(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var keks []tink.AEAD
	for _, n := range names {
		kek, err := fieldcrypt.KMSKEK(c, srv.CreateKey(n))
		if err != nil {
			t.Fatal(err)
		}
		keks = append(keks, kek)
	}
	return srv, c, keks
}

func TestKMSKEKRoundTrip(t *testing.T) {
	t.Parallel()
	srv, _, keks := kmsKEK(t, kekName, otherName)
	kek, other := keks[0], keks[1]
	ct, err := kek.Encrypt([]byte("a serialized keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := kek.Decrypt(ct, []byte("ad")); err != nil || string(pt) != "a serialized keyset" {
		t.Fatalf("decrypt: %q %v", pt, err)
	}
	for name, decrypt := range map[string]func() ([]byte, error){
		"other associated data": func() ([]byte, error) { return kek.Decrypt(ct, []byte("other")) },
		"another key":           func() ([]byte, error) { return other.Decrypt(ct, []byte("ad")) },
		"altered ciphertext": func() ([]byte, error) {
			bad := bytes.Clone(ct)
			bad[len(bad)-1] ^= 1
			return kek.Decrypt(bad, []byte("ad"))
		},
	} {
		_, err := decrypt()
		if status.Code(errors.Unwrap(err)) != codes.InvalidArgument && !isCode(err, codes.InvalidArgument) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
		}
		if errors.Is(err, fieldcrypt.ErrKEKUnavailable) {
			t.Errorf("%s: %v is ErrKEKUnavailable: a bad ciphertext is not an outage", name, err)
		}
	}
	// Rotation: the old version still decrypts what it encrypted.
	srv.Rotate(kekName)
	if _, err := kek.Decrypt(ct, []byte("ad")); err != nil {
		t.Errorf("decrypt after rotation: %v", err)
	}
	// A disabled version decrypts nothing, and says so as a state that can change.
	srv.SetVersionState(kekName, 1, kmspb.CryptoKeyVersion_DISABLED)
	if _, err := kek.Decrypt(ct, []byte("ad")); !isCode(err, codes.FailedPrecondition) || !errors.Is(err, fieldcrypt.ErrKEKUnavailable) {
		t.Errorf("decrypt with a disabled version: %v, want FAILED_PRECONDITION, ErrKEKUnavailable", err)
	}
	if _, err := kek.Encrypt([]byte("x"), nil); err != nil {
		t.Errorf("encrypt with the new primary: %v", err)
	}
}

func isCode(err error, c codes.Code) bool {
	for err != nil {
		if s, ok := status.FromError(err); ok && s.Code() == c {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}

// TestKMSKEKRefusals: what Cloud KMS refuses, the fake refuses, and KMSKEK
// passes it on.
func TestKMSKEKRefusals(t *testing.T) {
	t.Parallel()
	srv, c, keks := kmsKEK(t, kekName)
	kek := keks[0]
	big := make([]byte, kmstest.MaxDataBytes+1)
	if _, err := kek.Encrypt(big, nil); !isCode(err, codes.InvalidArgument) {
		t.Errorf("plaintext over 64 KiB: %v", err)
	}
	if _, err := kek.Encrypt([]byte("x"), big); !isCode(err, codes.InvalidArgument) {
		t.Errorf("associated data over 64 KiB: %v", err)
	}
	unknown, err := fieldcrypt.KMSKEK(c, "gcp-kms://"+otherName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unknown.Encrypt([]byte("x"), nil); !isCode(err, codes.NotFound) {
		t.Errorf("unknown key: %v", err)
	}
	for _, uri := range []string{"gcp-kms://projects/p/locations/l/keyRings/r", kekName, "gcp-kms://" + kekName + "/cryptoKeyVersions/1", "aws-kms://x"} {
		if _, err := fieldcrypt.KMSKEK(c, uri); err == nil {
			t.Errorf("KMSKEK(%q) accepted", uri)
		}
	}
	ct, err := kek.Encrypt([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Allow(kekName, kmstest.Encrypt)
	if _, err := kek.Decrypt(ct, nil); !isCode(err, codes.PermissionDenied) || !errors.Is(err, fieldcrypt.ErrKEKUnavailable) {
		t.Errorf("decrypt without permission: %v", err)
	}
	srv.Allow(kekName, kmstest.Decrypt)
	if _, err := kek.Encrypt([]byte("x"), nil); !isCode(err, codes.PermissionDenied) {
		t.Errorf("encrypt without permission: %v", err)
	}
}

// TestKMSKEKIntegrity: an answer corrupted on its way, or naming another
// key, is discarded.
func TestKMSKEKIntegrity(t *testing.T) {
	t.Parallel()
	srv, _, keks := kmsKEK(t, kekName)
	kek := keks[0]
	ct, err := kek.Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		tamper  func(proto.Message)
		decrypt bool
	}{
		{"ciphertext altered", func(m proto.Message) { m.(*kmspb.EncryptResponse).Ciphertext[5] ^= 1 }, false},
		{"ciphertext checksum missing", func(m proto.Message) { m.(*kmspb.EncryptResponse).CiphertextCrc32C = nil }, false},
		{"plaintext checksum not verified", func(m proto.Message) { m.(*kmspb.EncryptResponse).VerifiedPlaintextCrc32C = false }, false},
		{"associated data checksum not verified", func(m proto.Message) {
			m.(*kmspb.EncryptResponse).VerifiedAdditionalAuthenticatedDataCrc32C = false
		}, false},
		{"plaintext altered", func(m proto.Message) { m.(*kmspb.DecryptResponse).Plaintext[0] ^= 1 }, true},
	} {
		srv.TamperNext(tc.tamper)
		var err error
		if tc.decrypt {
			_, err = kek.Decrypt(ct, nil)
		} else {
			_, err = kek.Encrypt([]byte("keyset"), nil)
		}
		if !errors.Is(err, fieldcrypt.ErrKEKUnavailable) {
			t.Errorf("%s: %v, want ErrKEKUnavailable", tc.name, err)
		}
	}
	srv.TamperNext(func(m proto.Message) {
		m.(*kmspb.EncryptResponse).Name = otherName + "/cryptoKeyVersions/1"
	})
	if _, err := kek.Encrypt([]byte("keyset"), nil); err == nil {
		t.Error("an answer naming another key was accepted")
	}
}

// TestKMSKeyring: a keyring over Cloud KMS creates keysets Tink reads with
// the same KEK (what BigQuery's KEYS.KEYSET_CHAIN does), and another key
// does not unwrap them; a KEK that refuses the caller is not a corrupt
// keyset.
func TestKMSKeyring(t *testing.T) {
	t.Parallel()
	srv, _, keks := kmsKEK(t, kekName, otherName)
	store, err := fieldcrypt.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := fieldcrypt.NewKeyring(store, keks[0], fieldcrypt.WithCreate())
	if err != nil {
		t.Fatal(err)
	}
	n := fieldcrypt.Name{Type: typ, Kind: fieldcrypt.AEAD, SubjectField: "member_id", Subject: "m-1"}
	a, err := kr.AEAD(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := a.Encrypt([]byte("ada@example.com"), []byte(typ+".email"))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := kr.Wrapped(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	ta, err := aead.New(tinkHandle(t, wrapped, keks[0]))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := ta.Decrypt(ct, []byte(typ+".email")); err != nil || string(pt) != "ada@example.com" {
		t.Errorf("Tink with the KMS KEK: %q %v", pt, err)
	}

	wrong, err := fieldcrypt.NewKeyring(store, keks[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.AEAD(t.Context(), n); !errors.Is(err, fieldcrypt.ErrCorrupt) {
		t.Errorf("another KEK unwrapped the keyset: %v", err)
	}
	srv.Allow(kekName, kmstest.Encrypt)
	reader, err := fieldcrypt.NewKeyring(store, keks[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.AEAD(t.Context(), n); err == nil || errors.Is(err, fieldcrypt.ErrCorrupt) || !errors.Is(err, fieldcrypt.ErrKEKUnavailable) {
		t.Errorf("a keyring refused by KMS: %v, want ErrKEKUnavailable, not ErrCorrupt", err)
	}
}

// BenchmarkKMSKEK: one wrap and one unwrap of a keyset's size through the
// production client and the fake over loopback gRPC (what a collector
// spends, client and server together, on a new data subject's keyset; the
// network round trip to Cloud KMS comes on top).
func BenchmarkKMSKEK(b *testing.B) {
	_, _, keks := kmsKEK(b, kekName)
	kek := keks[0]
	keyset := make([]byte, 90) // a serialized AES-256-GCM keyset
	b.ReportAllocs()
	for b.Loop() {
		ct, err := kek.Encrypt(keyset, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kek.Decrypt(ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSyncWithoutKMS: Sync (hem keys sync) copies the wrapped keysets as
// the store holds them and deletes erased subjects' rows without calling
// Cloud KMS, so its job's account holds no KMS role (terraform
// keys_sync.tf, policytest's keys-sync-least-privilege and kms-decrypt).
func TestSyncWithoutKMS(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv, _, keks := kmsKEK(t, kekName)
	store, err := fieldcrypt.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	collector, err := fieldcrypt.NewKeyring(store, keks[0], fieldcrypt.WithCreate())
	if err != nil {
		t.Fatal(err)
	}
	kept := fieldcrypt.Name{Type: typ, Kind: fieldcrypt.Deterministic}
	erased := fieldcrypt.Name{Type: typ, Kind: fieldcrypt.AEAD, SubjectField: "member_id", Subject: "m-1"}
	if _, err := collector.Deterministic(ctx, kept); err != nil {
		t.Fatal(err)
	}
	if _, err := collector.AEAD(ctx, erased); err != nil {
		t.Fatal(err)
	}
	if _, err := collector.EraseSubject(ctx, "member_id", "m-1"); err != nil {
		t.Fatal(err)
	}
	// A copy of the erased keyset a collector wrote after the erasure.
	m := &memMirror{rows: map[string]fieldcrypt.Keyset{
		erased.Object(): {Name: erased, Object: erased.Object(), Wrapped: []byte{1}},
	}}

	srv.Allow(kekName, 0) // the sync job's account: no KMS role
	enc, dec := srv.Calls()
	syncer, err := fieldcrypt.NewKeyring(store, keks[0], fieldcrypt.WithMirror(m, nil))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := syncer.Sync(ctx); err != nil || rep.Put != 1 || rep.Deleted != 1 {
		t.Fatalf("Sync without KMS: %+v, %v; want 1 put and 1 deleted", rep, err)
	}
	if e, d := srv.Calls(); e != enc || d != dec {
		t.Errorf("Sync called Cloud KMS: %d encrypt and %d decrypt calls", e-enc, d-dec)
	}
	want, err := store.Get(ctx, kept.Object())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.objects(); !slices.Equal(got, []string{kept.Object()}) || !bytes.Equal(m.rows[kept.Object()].Wrapped, want) {
		t.Errorf("mirror %v: want only %s with the store's wrapped bytes", got, kept.Object())
	}
}
