package devstack_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/fieldcrypt"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/sink/duckdb"
)

// TestEncryptedFieldsRestEncrypted: MemberProfileUpdated events flow
// through hem dev with their personal fields encrypted per member: the
// warehouse, _failed_events and the archive hold no plaintext of them (by
// SQL over every table and archived object, and by the stored bytes),
// and a reader with the local keys decrypts the warehouse's values.
func TestEncryptedFieldsRestEncrypted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := start(t, dir)
	c, err := client.New(t.Context(), st.CollectorAddr, client.WithAPIKey(st.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"grace@example.com", "+31687654321", "Grace Hopper", "Amazing Grace", "grace@navy.mil"}
	profile := func(member string, tier membersv1.Tier) *membersv1.MemberProfileUpdated {
		return &membersv1.MemberProfileUpdated{
			MemberId: member, Email: "grace@example.com", Phone: "+31687654321", FullName: "Grace Hopper",
			Nickname: wrapperspb.String("Amazing Grace"), PreviousEmails: []string{"grace@navy.mil"},
			Tier: tier, UpdatedAt: timestamppb.Now(),
		}
	}
	want := map[string]collectorv1.EventStatus{
		"m-1": collectorv1.EventStatus_EVENT_STATUS_ACCEPTED,
		"m-2": collectorv1.EventStatus_EVENT_STATUS_ACCEPTED,
		"m-3": collectorv1.EventStatus_EVENT_STATUS_REJECTED, // tier 42 is not defined
	}
	for member, status := range want {
		tier := membersv1.Tier_TIER_GOLD
		if status == collectorv1.EventStatus_EVENT_STATUS_REJECTED {
			tier = 42
		}
		// A rejection is also an error of Get.
		r, err := c.Emit(t.Context(), profile(member, tier)).Get(t.Context())
		if r.GetStatus() != status {
			t.Fatalf("%s: %v %v, want %v", member, r, err, status)
		}
	}
	_ = c.Close(t.Context())

	const table = "shop_members_v1_member_profile_updated"
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		events, failed := 0, 0
		if len(sql(t, st, "select table_name from information_schema.tables where table_name = '"+table+"'")) == 1 {
			events = int(sql(t, st, "select count(*) from "+table)[0][0].(float64))
		}
		if len(sql(t, st, "select table_name from information_schema.tables where table_name = '_failed_events'")) == 1 {
			failed = int(sql(t, st, "select count(*) from _failed_events")[0][0].(float64))
		}
		if events == 2 && failed == 1 && archivedAny(dir) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	noSecrets := func(what string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds %q in clear", what, s)
			}
		}
	}
	rowsOf := sql(t, st, "select member_id, email, phone, full_name from "+table+" order by member_id")
	if len(rowsOf) != 2 {
		t.Fatalf("%d rows in %s", len(rowsOf), table)
	}
	noSecrets(table, sql(t, st, "select * from "+table))
	noSecrets("_failed_events", sql(t, st, "select * from _failed_events"))
	archived := sql(t, st, "select * from read_parquet('"+filepath.Join(devstack.ArchiveDir(dir), "**", "*.parquet")+"', union_by_name = true)")
	if len(archived) == 0 {
		t.Fatal("nothing archived")
	}
	noSecrets("the archive", archived)
	if f := sql(t, st, "select count(*) from _failed_events")[0][0].(float64); f != 1 {
		t.Fatalf("%v failed events, want 1", f)
	}

	// A reader with the keys (hem dev's, in the folder) decrypts them.
	kr, err := wiring.LocalFieldKeys(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	const typ = "shop.members.v1.MemberProfileUpdated"
	for _, row := range rowsOf {
		need := fieldcrypt.NeedOf(fieldcrypt.AEAD, fieldcrypt.DataSubject) | fieldcrypt.NeedOf(fieldcrypt.Deterministic, fieldcrypt.DataSubject)
		keys, err := kr.Keys(t.Context(), typ, "member_id", row[0].(string), need)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := fieldcrypt.DecodeString(row[2].(string))
		if err != nil {
			t.Fatalf("phone %q is not base64: %v", row[2], err)
		}
		got, err := keys.Open(fieldcrypt.AEAD, fieldcrypt.DataSubject, ct, []byte(typ+".phone"))
		if err != nil || string(got) != "+31687654321" {
			t.Errorf("%s: phone decrypts to %q, %v", row[0], got, err)
		}
	}

	// hem sql's hem_decrypt, with the stack's keys.
	decrypted := `select member_id, hem_decrypt('` + typ + `.phone', 'member_id', member_id, phone),
		hem_decrypt('` + typ + `.email', 'member_id', member_id, email) from ` + table + ` order by member_id`
	for _, row := range sql(t, st, decrypted) {
		if row[1] != "+31687654321" || row[2] != "grace@example.com" {
			t.Errorf("hem_decrypt of %v: %v", row[0], row[1:])
		}
	}

	// The stored bytes: no file of the stack's folder holds them.
	if err := st.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	// hem erase of m-1: its fields no longer decrypt, m-2's still do (hem
	// sql on the file, as without a running hem dev).
	if _, err := kr.EraseSubject(t.Context(), "member_id", "m-1"); err != nil {
		t.Fatal(err)
	}
	fresh, err := wiring.LocalFieldKeys(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	w, err := duckdb.Open(t.Context(), filepath.Join(dir, "warehouse.duckdb"), duckdb.ReadOnly(),
		duckdb.WithScalarFunc(wiring.DecryptFuncName, wiring.DecryptFunc(fresh)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Query(t.Context(), decrypted)
	_ = w.Close(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range res.Rows {
		switch row[0] {
		case "m-1":
			if row[1] != nil || row[2] != nil {
				t.Errorf("erased m-1 still decrypts: %v", row)
			}
		case "m-2":
			if row[1] != "+31687654321" || row[2] != "grace@example.com" {
				t.Errorf("m-2 no longer decrypts after m-1's erasure: %v", row)
			}
		}
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q in clear", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// archivedAny reports whether the archive holds an object.
func archivedAny(dir string) bool {
	found := false
	_ = filepath.WalkDir(devstack.ArchiveDir(dir), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".parquet") {
			found = true
		}
		return nil
	})
	return found
}
