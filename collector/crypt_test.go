package collector_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/fieldcrypt"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
)

const profileType = "shop.members.v1.MemberProfileUpdated"

// profileSecrets is what profileUpdated carries that its contract encrypts.
var profileSecrets = []string{"grace@example.com", "+31687654321", "Grace Hopper", "Amazing Grace", "grace@navy.mil"}

func profileUpdated(member string) *membersv1.MemberProfileUpdated {
	return &membersv1.MemberProfileUpdated{
		MemberId:       member,
		Email:          "grace@example.com",
		Phone:          "+31687654321",
		FullName:       "Grace Hopper",
		Nickname:       wrapperspb.String("Amazing Grace"),
		PreviousEmails: []string{"grace@navy.mil", "grace@example.com"},
		Tier:           membersv1.Tier_TIER_SILVER,
		UpdatedAt:      timestamppb.New(placedAt),
	}
}

// keyStore is a collector keyring and a reader's over one local store.
func keyStore(t *testing.T) (collectorKeys, readerKeys *fieldcrypt.Keyring, store *fieldcrypt.DirStore) {
	t.Helper()
	dir := t.TempDir()
	kek, err := fieldcrypt.LocalKEK(filepath.Join(dir, "master.json"))
	if err != nil {
		t.Fatal(err)
	}
	store, err = fieldcrypt.NewDirStore(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	collectorKeys, err = fieldcrypt.NewKeyring(store, kek, fieldcrypt.WithCreate())
	if err != nil {
		t.Fatal(err)
	}
	readerKeys, err = fieldcrypt.NewKeyring(store, kek)
	if err != nil {
		t.Fatal(err)
	}
	return collectorKeys, readerKeys, store
}

// decryptProfile decrypts the encrypted fields of a published
// MemberProfileUpdated as a reader with the keys would.
func decryptProfile(t *testing.T, kr *fieldcrypt.Keyring, data []byte) (*membersv1.MemberProfileUpdated, error) {
	t.Helper()
	var m membersv1.MemberProfileUpdated
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	need := fieldcrypt.NeedOf(fieldcrypt.AEAD, fieldcrypt.DataSubject) | fieldcrypt.NeedOf(fieldcrypt.Deterministic, fieldcrypt.DataSubject)
	keys, err := kr.Keys(t.Context(), profileType, "member_id", m.GetMemberId(), need)
	if err != nil {
		return nil, err
	}
	open := func(kind fieldcrypt.Kind, field, s string) (string, error) {
		ct, err := fieldcrypt.DecodeString(s)
		if err != nil {
			return "", err
		}
		p, err := keys.Open(kind, fieldcrypt.DataSubject, ct, []byte(profileType+"."+field))
		return string(p), err
	}
	out := &membersv1.MemberProfileUpdated{MemberId: m.GetMemberId(), Tier: m.GetTier(), UpdatedAt: m.GetUpdatedAt()}
	var errs [4]error
	out.Email, errs[0] = open(fieldcrypt.Deterministic, "email", m.GetEmail())
	out.Phone, errs[1] = open(fieldcrypt.AEAD, "phone", m.GetPhone())
	out.FullName, errs[2] = open(fieldcrypt.AEAD, "full_name", m.GetFullName())
	nick, err3 := open(fieldcrypt.AEAD, "nickname", m.GetNickname().GetValue())
	errs[3] = err3
	out.Nickname = wrapperspb.String(nick)
	for _, e := range m.GetPreviousEmails() {
		p, err := open(fieldcrypt.AEAD, "previous_emails", e)
		if err != nil {
			return nil, err
		}
		out.PreviousEmails = append(out.PreviousEmails, p)
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TestEncryptedFields: a MemberProfileUpdated is published with its
// personal fields encrypted with the member's keys (no plaintext in the
// bytes), and a reader with the keys gets them back.
func TestEncryptedFields(t *testing.T) {
	t.Parallel()
	ck, rk, _ := keyStore(t)
	st := start(t, collector.WithFieldKeys(ck))
	c := dial(t, st.Addr)
	results := mustCollect(t, c, event(t, "enc-1", profileUpdated("m-1")), event(t, "enc-2", profileUpdated("m-1")), event(t, "enc-3", profileUpdated("m-3")))
	for _, r := range results {
		if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("%v: %s %v", r.GetStatus(), r.GetMessage(), r.GetViolations())
		}
	}
	msgs := st.Published(envelope.EventsTopic)
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	var emails, phones []string
	for _, msg := range msgs {
		for _, p := range profileSecrets {
			if bytes.Contains(msg.Data, []byte(p)) {
				t.Errorf("%q in clear in the published bytes", p)
			}
		}
		got, err := decryptProfile(t, rk, msg.Data)
		if err != nil {
			t.Fatalf("decrypt: %v", err)
		}
		want := profileUpdated(got.GetMemberId())
		if !proto.Equal(got, want) {
			t.Errorf("decrypted %v, want %v", got, want)
		}
		var raw membersv1.MemberProfileUpdated
		_ = proto.Unmarshal(msg.Data, &raw)
		emails, phones = append(emails, raw.GetEmail()), append(phones, raw.GetPhone())
	}
	// Deterministic: one member's equal e-mails are equal ciphertexts;
	// another member's key gives another. Random nonce: never equal.
	if emails[0] != emails[1] || emails[0] == emails[2] {
		t.Errorf("deterministic e-mails %q", emails)
	}
	if phones[0] == phones[1] {
		t.Errorf("two encryptions of a phone number are equal: %q", phones[0])
	}
}

// TestEncryptedFailedEventsAndReplay: a rejected event's FailedEvent keeps
// its encrypted fields encrypted; replayed after a fix, they are not
// encrypted twice; the replay marker does not let clear values through.
func TestEncryptedFailedEventsAndReplay(t *testing.T) {
	t.Parallel()
	ck, rk, _ := keyStore(t)
	st := start(t, collector.WithFieldKeys(ck))
	c := dial(t, st.Addr)
	bad := profileUpdated("m-1")
	bad.Tier = 42 // not a defined tier
	if r := mustCollect(t, c, event(t, "enc-bad", bad))[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
		t.Fatalf("%v, want REJECTED", r)
	}
	data := failedData(t, st, "enc-bad")
	for _, p := range profileSecrets {
		if bytes.Contains(data, []byte(p)) {
			t.Errorf("%q in clear in the FailedEvent", p)
		}
	}
	_, orig := decodeFailedOriginal(t, data)
	if orig.GetAttributes()[envelope.AttrPII] != envelope.PIIApplied {
		t.Fatalf("original not kept encrypted and marked: %v", orig)
	}
	var fixed membersv1.MemberProfileUpdated
	if err := proto.Unmarshal(orig.GetPayload().GetValue(), &fixed); err != nil {
		t.Fatal(err)
	}
	fixed.Tier = membersv1.Tier_TIER_GOLD
	var err error
	if orig.Payload.Value, err = proto.Marshal(&fixed); err != nil {
		t.Fatal(err)
	}
	sneaky := event(t, "enc-sneaky", profileUpdated("m-1"))
	sneaky.Attributes = map[string]string{envelope.AttrPII: envelope.PIIApplied}
	for _, r := range mustCollect(t, c, orig, sneaky) {
		if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("%v", r)
		}
	}
	for _, m := range st.Published(envelope.EventsTopic) {
		for _, p := range profileSecrets {
			if bytes.Contains(m.Data, []byte(p)) {
				t.Errorf("%s: %q in clear on hem-events", m.Attributes[envelope.AttrEventID], p)
			}
		}
		got, err := decryptProfile(t, rk, m.Data)
		if err != nil {
			t.Fatalf("%s: %v (encrypted twice?)", m.Attributes[envelope.AttrEventID], err)
		}
		want := profileUpdated("m-1")
		if m.Attributes[envelope.AttrEventID] == "enc-bad" {
			want.Tier = membersv1.Tier_TIER_GOLD
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: decrypted %v, want %v", m.Attributes[envelope.AttrEventID], got, want)
		}
	}
}

// TestEncryptionRejections: an erased member, a corrupt keyset and a
// collector without keys each reject the event with a rule id, record a
// FailedEvent without the payload, and publish nothing in clear.
func TestEncryptionRejections(t *testing.T) {
	t.Parallel()
	ck, _, store := keyStore(t)
	if _, err := ck.EraseSubject(t.Context(), "member_id", "m-erased"); err != nil {
		t.Fatal(err)
	}
	corrupt := fieldcrypt.Name{Type: profileType, Kind: fieldcrypt.AEAD, SubjectField: "member_id", Subject: "m-corrupt"}
	if err := store.Create(t.Context(), corrupt.Object(), []byte("not a wrapped keyset")); err != nil {
		t.Fatal(err)
	}
	with := start(t, collector.WithFieldKeys(ck))
	without := start(t)
	cases := []struct {
		name, member, rule string
		noKeys             bool
	}{
		{"erased", "m-erased", "hem.encrypt.subject_erased", false},
		{"corrupt keyset", "m-corrupt", "hem.encrypt.key_corrupt", false},
		{"no key store", "m-1", "hem.encrypt.no_keys", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := with
			if tc.noKeys {
				st = without
			}
			id := "enc-rej-" + tc.member
			r := mustCollect(t, dial(t, st.Addr), event(t, id, profileUpdated(tc.member)))[0]
			if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED ||
				!slices.ContainsFunc(r.GetViolations(), func(v *eventv1.Violation) bool { return v.GetRuleId() == tc.rule }) {
				t.Fatalf("%v, want REJECTED by %s", r, tc.rule)
			}
			data := failedData(t, st, id)
			for _, p := range profileSecrets {
				if bytes.Contains(data, []byte(p)) {
					t.Errorf("%q in clear in the FailedEvent", p)
				}
			}
			for _, m := range st.Published(envelope.EventsTopic) {
				if m.Attributes[envelope.AttrEventID] == id {
					t.Errorf("a rejected event was published")
				}
			}
		})
	}
}
