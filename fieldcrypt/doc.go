// Package fieldcrypt encrypts the fields a contract marks
// PII_HANDLING_ENCRYPT (Tink AEAD, AES-256-GCM, a random nonce) and
// PII_HANDLING_ENCRYPT_DETERMINISTIC (Tink deterministic AEAD, AES-SIV), and
// keeps their keys.
//
// # Keys
//
// A key is a Tink keyset, named by a Name: the event type, the kind of
// primitive (AEAD or deterministic AEAD) and the scope, either the whole
// event type (KEY_SCOPE_EVENT_TYPE) or one data subject, the value of the
// event's data_subject_field (KEY_SCOPE_DATA_SUBJECT, e.g. member_id=42).
// Deleting a data subject's keysets (Keyring.EraseSubject) makes every copy
// of that person's encrypted fields unreadable, wherever the ciphertext
// rests (crypto-shredding).
//
// Keysets rest wrapped by a key-encryption key (KEK), a tink.AEAD: a Cloud
// KMS key in production (KMSKEK, over cloud.google.com/go/kms with CRC32C
// checks on every call; kmstest is its fake), a local keyset in a file
// under .hem/ for hem dev (LocalKEK). A wrapped keyset is the KEK's ciphertext of the
// serialized Tink keyset, with empty associated data: the form BigQuery's
// KEYS.KEYSET_CHAIN(kms_key_uri, wrapped_keyset) takes. A Store holds them as
// blobs (a folder, a GCS bucket); its object names are listed in Name.Object.
//
// A Mirror (WithMirror) is a copy of the keysets where others read them:
// in production the BigQuery keys table the <table>_decrypted views join.
// The store stays the source of truth: a keyset is created there first and
// then put in the mirror; a put that fails does not fail the event, and
// Keyring.Sync puts what the mirror lacks and deletes the rows of erased
// data subjects. EraseSubject deletes the subject's keysets from both.
//
// The collector's Keyring creates a missing keyset on first use (WithCreate);
// readers never do. Primitives are cached per name, so the hot path parses
// no keyset; a data subject's entries are fetched again after the cache's
// time to live, so an erasure in another process is noticed.
//
// # Ciphertext
//
// Ciphertexts are in Tink's wire format: one version byte (0x01), the 4-byte
// id of the key and the primitive's output (for AES-GCM a 12-byte nonce,
// the ciphertext and a 16-byte tag; for AES-SIV a 16-byte synthetic IV and
// the ciphertext), which is also what BigQuery's AEAD functions write and
// read.
//
// The associated data of a field is its protobuf full name, e.g.
// "shop.members.v1.MemberRegistered.email" (for a google.protobuf.StringValue
// or BytesValue field, the wrapper field's name): a ciphertext moved to
// another column or event type does not decrypt.
//
// A bytes field holds the ciphertext as is. A string field cannot (proto3
// strings are UTF-8), so it holds the standard base64 (with padding) of the
// ciphertext. In BigQuery:
//
//	AEAD.DECRYPT_STRING(
//	  KEYS.KEYSET_CHAIN('gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K', k.wrapped),
//	  FROM_BASE64(t.email), 'shop.members.v1.MemberRegistered.email')
//
// (DETERMINISTIC_DECRYPT_STRING for deterministic fields; the _BYTES
// variants, without FROM_BASE64, for bytes fields).
package fieldcrypt
