package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/fieldcrypt"
	"github.com/hemlabs/hem/fieldcrypt/kmstest"
	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	bqsink "github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

// TestProductionErase runs production's field keys end to end against the
// fakes (Cloud KMS, GCS, BigQuery, Pub/Sub): "hem collector serve" with
// --field-kek and --field-keys encrypts two members' profiles with keysets
// it creates in GCS and copies to the keys table; the archive of its events
// replayed into DuckDB decrypts with hem sql; "hem erase" of m-1 deletes
// m-1's keysets in GCS and their rows in the keys table, writes an audit
// record without the member id, and from then on the replayed m-1 reads
// NULL while m-2 still decrypts.
func TestProductionErase(t *testing.T) {
	ctx := t.Context()
	const (
		typ      = "shop.members.v1.MemberProfileUpdated"
		kekName  = "projects/hem-test/locations/us/keyRings/hem-fields/cryptoKeys/hem-field-kek"
		keysTbl  = "hem-test.hem_keys.field_keys"
		salt     = "0123456789abcdef0123"
		keysGS   = "gs://keys-bucket/keys"
		tableSQL = "shop_members_v1_member_profile_updated"
	)

	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	for _, topic := range []string{envelope.EventsTopic, envelope.FailedTopic} {
		if _, err := ps.GServer.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PUBSUB_EMULATOR_HOST", ps.Addr)
	gcs, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Addr())
	gc, err := gcs.NewClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gc.Close() })
	for _, b := range []string{"keys-bucket", "archive"} {
		if err := localgcs.EnsureBucket(ctx, gc, b); err != nil {
			t.Fatal(err)
		}
	}
	kms := kmstest.Start(t)
	kek := kms.CreateKey(kekName)
	bqs, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bqs.Close)
	bc, err := bq.NewClient(ctx, "hem-test", bqs.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bc.Close() })
	if err := bc.Dataset("hem_keys").Create(ctx, &bq.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatal(err)
	}
	if err := bc.Dataset("hem_keys").Table("field_keys").Create(ctx, &bq.TableMetadata{Schema: bqsink.KeysSchema()}); err != nil {
		t.Fatal(err)
	}
	keyRows := func() []string {
		t.Helper()
		rows, err := bqs.Rows("hem-test", "hem_keys", "field_keys")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r["subject"].(string)+" "+r["kind"].(string))
		}
		slices.Sort(out)
		return out
	}

	env := startRegistry(t)
	if out, errOut, code := run(t, env, "schema", "push", "../../proto"); code != 0 {
		t.Fatalf("push: %s %s", out, errOut)
	}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keysFile, []byte(`{"keys": [{"name": "t", "sha256": "`+auth.HashKey("k1")+`", "types": ["shop.*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	fieldKeys := map[string]string{
		"HEM_FIELD_KEK": kek, "HEM_FIELD_KEYS": keysGS, "HEM_FIELD_KEYS_TABLE": keysTbl,
		"HEM_KMS_ENDPOINT": kms.Addr, "HEM_BIGQUERY_ENDPOINT": bqs.RESTEndpoint(),
	}
	addr := freeAddr(t)
	serveEnv := map[string]string{"HEM_LISTEN": addr, "HEM_HTTP_LISTEN": addr, "HEM_REGISTRY": env["HEM_REGISTRY"], "HEM_PROJECT": "p",
		"HEM_KEYS_FILE": keysFile, "HEM_PII_SALT": salt}
	for k, v := range fieldKeys {
		serveEnv[k] = v
	}
	serveCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var serveOut syncBuffer
	go func() {
		defer close(done)
		io := cli.IO{Stdin: strings.NewReader(""), Stdout: &serveOut, Stderr: &serveOut, Getenv: func(k string) string { return serveEnv[k] }}
		if err := cli.Run(serveCtx, io, []string{"collector", "serve"}); err != nil {
			serveOut.Write([]byte("error: " + err.Error()))
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not ready:\n%s", serveOut.String())
		}
	}

	emitEnv := map[string]string{"HEM_REGISTRY": env["HEM_REGISTRY"], "HEM_DIR": env["HEM_DIR"], "HEM_COLLECTOR": addr, "HEM_API_KEY": "k1"}
	for _, m := range []string{"m-1", "m-2"} {
		profile := `{"memberId": "` + m + `", "email": "ada@example.com", "phone": "+31612345678", "fullName": "Ada Lovelace", "updatedAt": "2026-12-07T10:00:00Z"}`
		if out, errOut, code := run(t, emitEnv, "emit", "--type", typ, "--json", profile, "--event-id", "e-"+m); code != 0 || !strings.HasPrefix(out, "ACCEPTED") {
			t.Fatalf("emit %s: %d %s %s\n%s", m, code, out, errOut, serveOut.String())
		}
	}
	// The keysets reach the keys table in the background.
	want := []string{"m-1 aead", "m-1 daead", "m-2 aead", "m-2 daead"}
	for deadline := time.Now().Add(20 * time.Second); !slices.Equal(keyRows(), want); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("keys table rows %v, want %v\n%s", keyRows(), want, serveOut.String())
		}
	}

	// Archive what the collector published (the archive processor's job)
	// and point the CLI at it as at a hem dev.
	rc, err := registry.Dial(ctx, env["HEM_REGISTRY"])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sch, err := rc.Latest(ctx, typ)
	if err != nil {
		t.Fatal(err)
	}
	var events []*sink.Event
	for _, m := range ps.Messages() {
		if !strings.HasSuffix(m.Topic, "/"+envelope.EventsTopic) {
			continue
		}
		if strings.Contains(string(m.Data), "ada@example.com") || strings.Contains(string(m.Data), "+31612345678") {
			t.Fatalf("published in clear: %q", m.Data)
		}
		msg := sch.NewMessage()
		if err := proto.Unmarshal(m.Data, msg.Interface()); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		events = append(events, &sink.Event{ID: m.Attributes[envelope.AttrEventID], Schema: sch, Payload: m.Data, Message: msg, EventTime: now, ReceivedAt: now, PublishedAt: now})
	}
	if len(events) != 2 {
		t.Fatalf("%d events published, want 2", len(events))
	}
	a, err := archive.New(gc, "archive")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, &sink.Batch{Subject: typ, Events: events}); err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(cli.DevInfo{Registry: env["HEM_REGISTRY"], GCS: gcs.Addr(), Bucket: "archive"})
	if err := os.WriteFile(filepath.Join(env["HEM_DIR"], "dev.json"), info, 0o600); err != nil {
		t.Fatal(err)
	}

	decrypted := func() map[string][]string {
		t.Helper()
		warehouse := filepath.Join(t.TempDir(), "replay.duckdb")
		if out, errOut, code := run(t, env, "replay", "--type", typ, "--since", "1h", "--to", "duckdb", "--warehouse", warehouse); code != 0 || !strings.Contains(out, "2 sent to duckdb") {
			t.Fatalf("replay: %d %s %s", code, out, errOut)
		}
		args := []string{"sql", "--warehouse", warehouse, "--format", "csv",
			"--field-kek", kek, "--field-keys", keysGS, "--kms-endpoint", kms.Addr,
			"select member_id, hem_decrypt('" + typ + ".phone', 'member_id', member_id, phone), hem_decrypt('" + typ + ".email', 'member_id', member_id, email) from " + tableSQL + " order by member_id"}
		out, errOut, code := run(t, env, args...)
		if code != 0 {
			t.Fatalf("sql: %d %s %s", code, out, errOut)
		}
		got := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Split(line, ",")
			got[f[0]] = f[1:]
		}
		return got
	}
	clear := []string{"+31612345678", "ada@example.com"}
	if got := decrypted(); !slices.Equal(got["m-1"], clear) || !slices.Equal(got["m-2"], clear) {
		t.Fatalf("before the erasure, replayed rows decrypt to %v", got)
	}

	eraseArgs := []string{"erase", "--subject-field", "member_id=m-1", "--pii-salt", salt, "--by", "dpo@example.com", "--recheck-after", "0"}
	out, errOut, code := runStdin(t, fieldKeys, "", eraseArgs...)
	if code != 0 || !strings.Contains(out, "2 keysets deleted") || !strings.Contains(out, "bigquery:"+keysTbl) {
		t.Fatalf("erase: %d\n%s%s", code, out, errOut)
	}
	t.Logf("hem erase:\n%s", out)
	if strings.Contains(out, "m-1") || strings.Contains(out, "6d2d31") {
		t.Errorf("erase printed the member id:\n%s", out)
	}
	if got, want := keyRows(), []string{"m-2 aead", "m-2 daead"}; !slices.Equal(got, want) {
		t.Errorf("keys table after the erasure: %v, want %v", got, want)
	}
	// The audit record: one new object under keys/audit/erasures/, the
	// subject by HMAC only, the keys table's deletions counted.
	var audits []string
	it := gc.Bucket("keys-bucket").Objects(ctx, &storage.Query{Prefix: "keys/audit/erasures/"})
	for {
		a, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		audits = append(audits, a.Name)
	}
	if len(audits) != 1 {
		t.Fatalf("audit objects %v, want 1", audits)
	}
	r, err := gc.Bucket("keys-bucket").Object(audits[0]).NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		By           string
		SubjectField string `json:"subject_field"`
		HMAC         string `json:"subject_hmac_sha256"`
		Stores       []struct {
			Store   string
			Deleted int64
		}
	}
	err = json.NewDecoder(r).Decode(&rec)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rec.By != "dpo@example.com" || rec.SubjectField != "member_id" || len(rec.HMAC) != 64 || len(rec.Stores) != 3 ||
		rec.Stores[0].Deleted != 2 || rec.Stores[1].Deleted != 2 {
		t.Errorf("audit record %+v", rec)
	}

	// The archive replayed again: m-1 reads NULL, m-2 still decrypts.
	if got := decrypted(); !slices.Equal(got["m-1"], []string{"", ""}) || !slices.Equal(got["m-2"], clear) {
		t.Errorf("after erasing m-1, replayed rows decrypt to %v", got)
	}
	// keys sync finds nothing to repair: m-2's keysets are there, m-1's
	// rows stay gone.
	if out, errOut, code := runStdin(t, fieldKeys, "", "keys", "sync"); code != 0 || !strings.Contains(out, "2 keysets in "+keysGS+", 2 rows") ||
		!strings.Contains(out, "0 keysets put") || !strings.Contains(out, "0 rows of 1 erased") {
		t.Errorf("keys sync: %d %s %s", code, out, errOut)
	}
	if got, want := keyRows(), []string{"m-2 aead", "m-2 daead"}; !slices.Equal(got, want) {
		t.Errorf("keys table after sync: %v, want %v", got, want)
	}
}

// TestLocalErase: hem erase on hem dev's keys deletes the member's keysets
// and leaves the audit record under <dir>/keys/data/audit/erasures/.
func TestLocalErase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kr, err := wiring.LocalFieldKeys(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	need := fieldcrypt.NeedOf(fieldcrypt.AEAD, fieldcrypt.DataSubject)
	for _, m := range []string{"m-1", "m-2"} {
		if _, err := kr.Keys(t.Context(), "shop.members.v1.MemberProfileUpdated", "member_id", m, need); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "pii-salt"), []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, map[string]string{"HEM_DIR": dir}, "erase", "--subject-field", "member_id=m-1")
	if code != 0 || !strings.Contains(out, "1 keysets deleted") || strings.Contains(out, "m-1") {
		t.Fatalf("erase: %d\n%s%s", code, out, errOut)
	}
	audits, err := filepath.Glob(filepath.Join(dir, "keys", "data", "audit", "erasures", "*.json"))
	if err != nil || len(audits) != 1 {
		t.Fatalf("audit records %v %v", audits, err)
	}
	b, err := os.ReadFile(audits[0])
	if err != nil || !strings.Contains(string(b), `"subject_field": "member_id"`) || strings.Contains(string(b), "m-1") {
		t.Errorf("audit record %s %v", b, err)
	}
	fresh, err := wiring.LocalFieldKeys(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Keys(t.Context(), "shop.members.v1.MemberProfileUpdated", "member_id", "m-1", need); !errors.Is(err, fieldcrypt.ErrErased) {
		t.Errorf("m-1 after erase: %v", err)
	}
	if _, err := fresh.Keys(t.Context(), "shop.members.v1.MemberProfileUpdated", "member_id", "m-2", need); err != nil {
		t.Errorf("m-2 after erase of m-1: %v", err)
	}
}
