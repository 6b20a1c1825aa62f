package fieldcrypt

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/googleapis/gax-go/v2"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// KMSClient is the part of Cloud KMS's client (cloud.google.com/go/kms/apiv1
// KeyManagementClient) that KMSKEK calls.
type KMSClient interface {
	Encrypt(ctx context.Context, req *kmspb.EncryptRequest, opts ...gax.CallOption) (*kmspb.EncryptResponse, error)
	Decrypt(ctx context.Context, req *kmspb.DecryptRequest, opts ...gax.CallOption) (*kmspb.DecryptResponse, error)
}

// KMSURIPrefix starts a Cloud KMS key's URI, as Tink and BigQuery's
// KEYS.KEYSET_CHAIN name it.
const KMSURIPrefix = "gcp-kms://"

var kmsKeyName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

// KMSKeyName is the Cloud KMS resource name of a key URI
// gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K (a key, not one
// of its versions: Cloud KMS encrypts with the primary version and finds
// the version that decrypts in the ciphertext, so rotation needs no change).
func KMSKeyName(uri string) (string, error) {
	name, ok := strings.CutPrefix(uri, KMSURIPrefix)
	if !ok || !kmsKeyName.MatchString(name) {
		return "", fmt.Errorf("fieldcrypt: KEK %q is not gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K", uri)
	}
	return name, nil
}

// ErrKEKUnavailable marks a KEK call that failed for a reason that may
// pass (Cloud KMS unreachable, throttled, a corrupted response): unlike a
// refusal, it does not say the keyset is bad, and the keyring does not
// take it for ErrCorrupt.
var ErrKEKUnavailable = errors.New("fieldcrypt: key-encryption key unavailable")

// kmsTimeout bounds one Cloud KMS call: tink.AEAD has no context.
const kmsTimeout = 30 * time.Second

// KMSKEK is a key-encryption key in Cloud KMS: a tink.AEAD whose Encrypt
// and Decrypt are Cloud KMS's, with the associated data passed as
// additional_authenticated_data. keyURI is the key's URI
// (gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K). Every call
// carries CRC32C checksums of what it sends and checks those of the
// answer; an answer whose checksums do not match, that does not say it
// checked the request's, or that names another key is discarded
// (ErrKEKUnavailable: the caller may retry). It is safe for concurrent use.
// Each call blocks for one round trip to Cloud KMS, at most 30 seconds.
func KMSKEK(client KMSClient, keyURI string) (tink.AEAD, error) {
	if client == nil {
		return nil, errors.New("fieldcrypt: a Cloud KMS client is required")
	}
	name, err := KMSKeyName(keyURI)
	if err != nil {
		return nil, err
	}
	return &kmsKEK{client: client, name: name}, nil
}

type kmsKEK struct {
	client KMSClient
	name   string
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

func (k *kmsKEK) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kmsTimeout)
	defer cancel()
	resp, err := k.client.Encrypt(ctx, &kmspb.EncryptRequest{
		Name:                              k.name,
		Plaintext:                         plaintext,
		PlaintextCrc32C:                   wrapperspb.Int64(crc32c(plaintext)),
		AdditionalAuthenticatedData:       associatedData,
		AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc32c(associatedData)),
	})
	if err != nil {
		return nil, k.callError("encrypt", err)
	}
	// The answer names the version used: one of this key's.
	version, ok := strings.CutPrefix(resp.GetName(), k.name+"/cryptoKeyVersions/")
	switch {
	case !ok || version == "" || strings.Contains(version, "/"):
		return nil, fmt.Errorf("fieldcrypt: Cloud KMS encrypted with %q, not a version of %s", resp.GetName(), k.name)
	case !resp.GetVerifiedPlaintextCrc32C():
		return nil, fmt.Errorf("%w: Cloud KMS encrypt with %s did not check the plaintext's checksum", ErrKEKUnavailable, k.name)
	case !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C():
		return nil, fmt.Errorf("%w: Cloud KMS encrypt with %s did not check the associated data's checksum", ErrKEKUnavailable, k.name)
	case resp.GetCiphertextCrc32C() == nil || resp.GetCiphertextCrc32C().GetValue() != crc32c(resp.GetCiphertext()):
		return nil, fmt.Errorf("%w: Cloud KMS encrypt with %s: the ciphertext does not match its checksum", ErrKEKUnavailable, k.name)
	}
	return resp.GetCiphertext(), nil
}

func (k *kmsKEK) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kmsTimeout)
	defer cancel()
	resp, err := k.client.Decrypt(ctx, &kmspb.DecryptRequest{
		Name:                              k.name,
		Ciphertext:                        ciphertext,
		CiphertextCrc32C:                  wrapperspb.Int64(crc32c(ciphertext)),
		AdditionalAuthenticatedData:       associatedData,
		AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc32c(associatedData)),
	})
	if err != nil {
		return nil, k.callError("decrypt", err)
	}
	// A DecryptResponse has no verified_* flags: Cloud KMS refuses a
	// request whose checksums do not match.
	if resp.GetPlaintextCrc32C() == nil || resp.GetPlaintextCrc32C().GetValue() != crc32c(resp.GetPlaintext()) {
		return nil, fmt.Errorf("%w: Cloud KMS decrypt with %s: the plaintext does not match its checksum", ErrKEKUnavailable, k.name)
	}
	return resp.GetPlaintext(), nil
}

// callError wraps a failed call. Only INVALID_ARGUMENT (for a decrypt:
// the ciphertext or its associated data is not the key's) says something
// about the data; every other code (unreachable, throttled, the caller
// lacks permission, the key or its version disabled or unknown) is a
// deployment's state that can change, ErrKEKUnavailable, so the collector
// answers RETRY rather than rejecting events for a corrupt keyset.
func (k *kmsKEK) callError(op string, err error) error {
	if status.Code(err) == codes.InvalidArgument {
		return fmt.Errorf("fieldcrypt: Cloud KMS %s with %s: %w", op, k.name, err)
	}
	return fmt.Errorf("%w: Cloud KMS %s with %s: %w", ErrKEKUnavailable, op, k.name, err)
}
