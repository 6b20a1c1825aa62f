package console_test

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/fieldcrypt"
)

const profileUpdated = "shop.members.v1.MemberProfileUpdated"

// cryptHarness is the harness with a collector that encrypts, and the
// keys a reader (the console) opens them with: the same store and KEK,
// without creating keys.
func cryptHarness(t *testing.T) (*harness, *fieldcrypt.Keyring) {
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
	writer, err := fieldcrypt.NewKeyring(store, kek, fieldcrypt.WithCreate())
	if err != nil {
		t.Fatal(err)
	}
	reader, err := fieldcrypt.NewKeyring(store, kek)
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, collector.WithFieldKeys(writer)), reader
}

// TestEncryptedFieldsShownAsSuch: a member's encrypted fields, in a
// rejected event (the failed group page, Find) and an accepted one (its
// row on Find), read "encrypted" for every viewer, one who may see PII
// too, never as ciphertext or plaintext; a viewer who may decrypt, on a
// console with the keys, reads them in clear; the same viewer on a
// console without keys reads "encrypted".
func TestEncryptedFieldsShownAsSuch(t *testing.T) {
	t.Parallel()
	h, keys := cryptHarness(t)
	bad := `{"memberId": "M-7", "email": "ana@example.com", "phone": "12", "fullName": "Ana Lima", "updatedAt": "2026-12-01T10:00:00Z"}`
	good := `{"memberId": "M-8", "email": "bo@example.com", "phone": "+4512345678", "fullName": "Bo Berg", "previousEmails": ["b@old.example"], "updatedAt": "2026-12-01T10:00:00Z"}`
	res := h.emit(t, h.event(t, profileUpdated, "e-prof-bad", bad, time.Now()), h.event(t, profileUpdated, "e-prof-good", good, time.Now()))
	if res[0].GetStatus().String() != "EVENT_STATUS_REJECTED" || res[1].GetStatus().String() != "EVENT_STATUS_ACCEPTED" {
		t.Fatalf("answers %v, want rejected (phone) and accepted", res)
	}
	h.drain(t)
	// The ciphertexts as stored: none may reach a page.
	stored := h.sql(t, "SELECT email, full_name FROM shop_members_v1_member_profile_updated WHERE _event_id = 'e-prof-good'")
	if len(stored) != 1 {
		t.Fatalf("rows %v", stored)
	}
	group := "/ui/failed/group?" + url.Values{"type": {profileUpdated}, "reason": {"REASON_VALIDATION_FAILED"}, "rule": {"string.pattern"}, "path": {"phone"}}.Encode()
	pages := []string{group, "/ui/events?id=e-prof-bad", "/ui/events?id=e-prof-good"}
	plain := []string{"ana@example.com", "Ana Lima", "bo@example.com", "Bo Berg", "b@old.example"}

	for _, tt := range []struct {
		name     string
		viewer   console.Viewer
		withKeys bool
		clear    bool
	}{
		{"masked viewer", console.Viewer{Name: "x"}, true, false},
		{"may see PII, not decrypt", console.Viewer{Name: "x", MaySeePII: true}, true, false},
		{"may decrypt, console without keys", console.Viewer{Name: "x", MaySeePII: true, MayDecrypt: true}, false, false},
		{"may decrypt", console.Viewer{Name: "x", MayDecrypt: true}, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts, _ := failedConsole(t, h, viewerAuth{tt.viewer}, func(d *console.Deps) {
				if tt.withKeys {
					d.FieldKeys = keys
				}
			})
			for _, path := range pages {
				p := get(t, ts, path)
				if p.Status != http.StatusOK {
					t.Fatalf("%s: status %d: %s", path, p.Status, p.text())
				}
				for _, ct := range stored[0] {
					if s, _ := ct.(string); s != "" && strings.Contains(p.Body, s) {
						t.Errorf("%s: a ciphertext (%.16s…) is on the page", path, s)
					}
				}
				if !tt.clear {
					mustContain(t, p, "encrypted")
					for _, v := range plain {
						if strings.Contains(p.Body, v) {
							t.Errorf("%s: %q in clear for a viewer who may not decrypt", path, v)
						}
					}
				}
			}
			if tt.clear {
				mustContain(t, get(t, ts, group), "ana@example.com", "Ana Lima")
				mustContain(t, get(t, ts, "/ui/events?id=e-prof-bad"), "ana@example.com", "Ana Lima")
				mustContain(t, get(t, ts, "/ui/events?id=e-prof-good"), "bo@example.com", "Bo Berg")
			}
		})
	}
}

// TestContractShowsEncryption: the contract page badges each encrypted
// column with its key scope, named after the data subject field.
func TestContractShowsEncryption(t *testing.T) {
	t.Parallel()
	h, _ := cryptHarness(t)
	ts := newTestConsole(t, h)
	p := get(t, ts, "/ui/contracts/"+profileUpdated)
	if p.Status != http.StatusOK {
		t.Fatalf("status %d: %s", p.Status, p.text())
	}
	mustContain(t, p, "encrypted, per member", "encrypted, per member, deterministic", "ENCRYPT_DETERMINISTIC — the collector encrypts the value deterministically")
	if n := strings.Count(p.Body, "encrypted, per member"); n != 5 {
		t.Errorf("%d badges, want 5 (email, phone, full_name, nickname, previous_emails)", n)
	}
}
