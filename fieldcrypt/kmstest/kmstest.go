// Package kmstest is an in-process fake of Cloud KMS's KeyManagementService
// for tests of fieldcrypt.KMSKEK: it speaks the real gRPC protocol, so the
// production client (cloud.google.com/go/kms/apiv1) talks to it unchanged
// through [Server.ClientOptions], and it serves Encrypt and Decrypt with
// symmetric keys (AES-256-GCM per key version) and refuses what Cloud KMS
// refuses:
//
//   - a malformed key name (INVALID_ARGUMENT), an unknown key (NOT_FOUND),
//     a key version's name in a Decrypt (INVALID_ARGUMENT: Cloud KMS wants
//     the key and finds the version in the ciphertext);
//   - a caller the key does not allow to encrypt or decrypt
//     (PERMISSION_DENIED; see [Server.Allow]);
//   - an empty plaintext or ciphertext, a plaintext or associated data over
//     64 KiB (INVALID_ARGUMENT);
//   - a request whose CRC32C checksum does not match its data
//     (INVALID_ARGUMENT);
//   - a ciphertext that is not the key's, was altered or comes with other
//     associated data (INVALID_ARGUMENT);
//   - a key version that is not enabled (FAILED_PRECONDITION; see
//     [Server.SetVersionState]).
//
// Answers carry the checksums and verified_* flags Cloud KMS sets; fault
// injection ([Server.TamperNext]) alters the next answer, as a corrupted
// response would. Any other method is UNIMPLEMENTED.
package kmstest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// MaxDataBytes is Cloud KMS's limit on a plaintext and on associated data
// (software keys).
const MaxDataBytes = 64 << 10

// Permission is what a key lets its callers do.
type Permission uint8

const (
	// Encrypt is cloudkms.cryptoKeyVersions.useToEncrypt.
	Encrypt Permission = 1 << iota
	// Decrypt is cloudkms.cryptoKeyVersions.useToDecrypt.
	Decrypt
)

// Server is the fake. It is safe for concurrent use.
type Server struct {
	kmspb.UnimplementedKeyManagementServiceServer
	// Addr is its plaintext host:port.
	Addr string

	mu      sync.Mutex
	keys    map[string]*key
	tamper  []func(proto.Message)
	encrypt int
	decrypt int
}

type key struct {
	versions []*version // version n at n-1
	primary  int        // 1-based
	allow    Permission
}

type version struct {
	aead  cipher.AEAD
	state kmspb.CryptoKeyVersion_CryptoKeyVersionState
}

// Start serves the fake on a loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: lis.Addr().String(), keys: map[string]*key{}}
	srv := grpc.NewServer()
	kmspb.RegisterKeyManagementServiceServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s
}

// ClientOptions point cloud.google.com/go/kms/apiv1's client at the fake.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
}

var (
	keyName     = regexp.MustCompile(`^projects/[a-z0-9-]+/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$`)
	versionName = regexp.MustCompile(`^(.+)/cryptoKeyVersions/([1-9][0-9]*)$`)
)

// CreateKey creates the symmetric key name
// (projects/P/locations/L/keyRings/R/cryptoKeys/K) with one enabled
// version, its primary, that allows encrypting and decrypting, and returns
// its URI (gcp-kms://name).
func (s *Server) CreateKey(name string) string {
	if !keyName.MatchString(name) {
		panic("kmstest: malformed key name " + name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[name]; ok {
		panic("kmstest: key exists: " + name)
	}
	k := &key{allow: Encrypt | Decrypt}
	k.addVersion()
	s.keys[name] = k
	return "gcp-kms://" + name
}

func (k *key) addVersion() {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	block, _ := aes.NewCipher(secret)
	a, _ := cipher.NewGCM(block)
	k.versions = append(k.versions, &version{aead: a, state: kmspb.CryptoKeyVersion_ENABLED})
	k.primary = len(k.versions)
}

// Rotate adds a version to key name and makes it the primary (what
// rotation_period does); older versions still decrypt what they encrypted.
// It returns the new version's number.
func (s *Server) Rotate(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.mustKey(name)
	k.addVersion()
	return k.primary
}

// SetVersionState sets the state of version n of key name (DISABLED,
// DESTROYED, ENABLED...); only an ENABLED version encrypts or decrypts.
func (s *Server) SetVersionState(name string, n int, state kmspb.CryptoKeyVersion_CryptoKeyVersionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.mustKey(name)
	if n < 1 || n > len(k.versions) {
		panic(fmt.Sprintf("kmstest: %s has no version %d", name, n))
	}
	k.versions[n-1].state = state
}

// Allow sets what the callers of key name may do (an IAM policy on the key,
// the same for every caller: the fake sees no credentials).
func (s *Server) Allow(name string, p Permission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustKey(name).allow = p
}

// TamperNext alters the next successful answer (an *kmspb.EncryptResponse or
// *kmspb.DecryptResponse) with f before it is sent.
func (s *Server) TamperNext(f func(proto.Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = append(s.tamper, f)
}

// Calls are the Encrypt and Decrypt calls received so far.
func (s *Server) Calls() (encrypt, decrypt int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.encrypt, s.decrypt
}

func (s *Server) mustKey(name string) *key {
	k, ok := s.keys[name]
	if !ok {
		panic("kmstest: no key " + name)
	}
	return k
}

// lookup resolves a request's name (held lock).
func (s *Server) lookup(name string, versionOK bool, need Permission) (*key, int, error) {
	base, n := name, 0
	if m := versionName.FindStringSubmatch(name); m != nil {
		if !versionOK {
			return nil, 0, status.Errorf(codes.InvalidArgument, "name %q: a CryptoKey's name is required, not a CryptoKeyVersion's", name)
		}
		base = m[1]
		n, _ = strconv.Atoi(m[2])
	}
	if !keyName.MatchString(base) {
		return nil, 0, status.Errorf(codes.InvalidArgument, "resource name %q is not a valid CryptoKey name", name)
	}
	k, ok := s.keys[base]
	if !ok || n > len(k.versions) {
		return nil, 0, status.Errorf(codes.NotFound, "%s not found", name)
	}
	if k.allow&need == 0 {
		perm := "cloudkms.cryptoKeyVersions.useToEncrypt"
		if need == Decrypt {
			perm = "cloudkms.cryptoKeyVersions.useToDecrypt"
		}
		return nil, 0, status.Errorf(codes.PermissionDenied, "Permission '%s' denied on resource '%s' (or it may not exist)", perm, base)
	}
	if n == 0 {
		n = k.primary
	}
	return k, n, nil
}

func enabled(name string, k *key, n int) error {
	if st := k.versions[n-1].state; st != kmspb.CryptoKeyVersion_ENABLED {
		return status.Errorf(codes.FailedPrecondition, "%s/cryptoKeyVersions/%d is not enabled, current state is: %s", name, n, st)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func sum(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

// checksum checks an optional request checksum; it reports whether one was
// given.
func checksum(field string, data []byte, c *wrapperspb.Int64Value) (bool, error) {
	if c == nil {
		return false, nil
	}
	if c.GetValue() != sum(data) {
		return false, status.Errorf(codes.InvalidArgument, "The checksum in field %s did not match the data in field %s.", field+"_crc32c", field)
	}
	return true, nil
}

func sizes(field string, data []byte, required bool) error {
	if required && len(data) == 0 {
		return status.Errorf(codes.InvalidArgument, "%s is required", field)
	}
	if len(data) > MaxDataBytes {
		return status.Errorf(codes.InvalidArgument, "%s is %d bytes, larger than %d", field, len(data), MaxDataBytes)
	}
	return nil
}

// The fake's ciphertext: the version number (4 bytes, big endian), the
// nonce and AES-GCM's output, over the key's name and the caller's
// associated data.
func sealAAD(name string, aad []byte) []byte {
	return append(append([]byte(name), 0), aad...)
}

// Encrypt encrypts with the key's primary version (or the version named).
func (s *Server) Encrypt(_ context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.encrypt++
	k, n, err := s.lookup(req.GetName(), true, Encrypt)
	if err != nil {
		return nil, err
	}
	if err := sizes("plaintext", req.GetPlaintext(), true); err != nil {
		return nil, err
	}
	if err := sizes("additional_authenticated_data", req.GetAdditionalAuthenticatedData(), false); err != nil {
		return nil, err
	}
	vp, err := checksum("plaintext", req.GetPlaintext(), req.GetPlaintextCrc32C())
	if err != nil {
		return nil, err
	}
	va, err := checksum("additional_authenticated_data", req.GetAdditionalAuthenticatedData(), req.GetAdditionalAuthenticatedDataCrc32C())
	if err != nil {
		return nil, err
	}
	base := strings.Split(req.GetName(), "/cryptoKeyVersions/")[0]
	if err := enabled(base, k, n); err != nil {
		return nil, err
	}
	v := k.versions[n-1]
	out := binary.BigEndian.AppendUint32(nil, uint32(n))
	nonce := make([]byte, v.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	out = v.aead.Seal(out, nonce, req.GetPlaintext(), sealAAD(base, req.GetAdditionalAuthenticatedData()))
	resp := &kmspb.EncryptResponse{
		Name:                    fmt.Sprintf("%s/cryptoKeyVersions/%d", base, n),
		Ciphertext:              out,
		CiphertextCrc32C:        wrapperspb.Int64(sum(out)),
		VerifiedPlaintextCrc32C: vp, VerifiedAdditionalAuthenticatedDataCrc32C: va,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}
	s.applyTamper(resp)
	return resp, nil
}

// Decrypt decrypts with the version the ciphertext names.
func (s *Server) Decrypt(_ context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decrypt++
	k, _, err := s.lookup(req.GetName(), false, Decrypt)
	if err != nil {
		return nil, err
	}
	if err := sizes("ciphertext", req.GetCiphertext(), true); err != nil {
		return nil, err
	}
	if err := sizes("additional_authenticated_data", req.GetAdditionalAuthenticatedData(), false); err != nil {
		return nil, err
	}
	if _, err := checksum("ciphertext", req.GetCiphertext(), req.GetCiphertextCrc32C()); err != nil {
		return nil, err
	}
	if _, err := checksum("additional_authenticated_data", req.GetAdditionalAuthenticatedData(), req.GetAdditionalAuthenticatedDataCrc32C()); err != nil {
		return nil, err
	}
	bad := status.Error(codes.InvalidArgument, "Decryption failed: the ciphertext is invalid.")
	ct := req.GetCiphertext()
	if len(ct) < 4+12 {
		return nil, bad
	}
	n := int(binary.BigEndian.Uint32(ct))
	if n < 1 || n > len(k.versions) {
		return nil, bad
	}
	if err := enabled(req.GetName(), k, n); err != nil {
		return nil, err
	}
	v := k.versions[n-1]
	plain, err := v.aead.Open(nil, ct[4:4+v.aead.NonceSize()], ct[4+v.aead.NonceSize():], sealAAD(req.GetName(), req.GetAdditionalAuthenticatedData()))
	if err != nil {
		return nil, bad
	}
	resp := &kmspb.DecryptResponse{
		Plaintext:       plain,
		PlaintextCrc32C: wrapperspb.Int64(sum(plain)),
		UsedPrimary:     n == k.primary,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}
	s.applyTamper(resp)
	return resp, nil
}

func (s *Server) applyTamper(m proto.Message) {
	if len(s.tamper) == 0 {
		return
	}
	f := s.tamper[0]
	s.tamper = s.tamper[1:]
	f(m)
}
