package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSchemaLifecycle(t *testing.T) {
	t.Parallel()
	// OrderPlaced and OrderShipped keep two years, OrderPlaced moves to
	// Archive after 30 days.
	dir := contracts(t, t.TempDir(), "",
		`{entity_key_field: "order_id"};

  // Order id.
  string order_id = 1;
  // Units`, `{entity_key_field: "order_id" archive_retention_days: 730 archive_cold_after_days: 30 archive_cold_storage_class: "ARCHIVE"};

  // Order id.
  string order_id = 1;
  // Units`,
		`{entity_key_field: "order_id"};

  // Order id.
  string order_id = 1;
}`, `{entity_key_field: "order_id" archive_retention_days: 730};

  // Order id.
  string order_id = 1;
}`)
	out := filepath.Join(t.TempDir(), "archive_lifecycle.json")
	if o, e, code := run(t, nil, "schema", "lifecycle", dir, "--check", "--out", out); code != 1 || !strings.Contains(e, "is stale") {
		t.Fatalf("--check of a missing file: exit %d\n%s%s", code, o, e)
	}
	if o, e, code := run(t, nil, "schema", "lifecycle", dir, "--out", out); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, o, e)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Rules []struct {
			Action              string   `json:"action"`
			StorageClass        string   `json:"storage_class"`
			AgeDays             int      `json:"age_days"`
			MatchesStorageClass []string `json:"matches_storage_class"`
			MatchesPrefix       []string `json:"matches_prefix"`
		} `json:"rules"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Rules) != 2 {
		t.Fatalf("rules %+v, want one Delete shared by both types and one move", f.Rules)
	}
	del, move := f.Rules[0], f.Rules[1]
	if del.Action != "Delete" || del.AgeDays != 730 || strings.Join(del.MatchesPrefix, " ") != "events/type=acme.orders.v1.OrderPlaced/ events/type=acme.orders.v1.OrderShipped/" {
		t.Errorf("delete rule %+v", del)
	}
	if move.Action != "SetStorageClass" || move.StorageClass != "ARCHIVE" || move.AgeDays != 30 ||
		strings.Join(move.MatchesStorageClass, " ") != "STANDARD NEARLINE COLDLINE" || strings.Join(move.MatchesPrefix, " ") != "events/type=acme.orders.v1.OrderPlaced/" {
		t.Errorf("move rule %+v", move)
	}
	if o, e, code := run(t, nil, "schema", "lifecycle", dir, "--check", "--out", out); code != 0 {
		t.Fatalf("--check of a fresh file: exit %d\n%s%s", code, o, e)
	}
}

// The file terraform applies is what the repository's contracts give (make
// checklifecycle runs the same check).
func TestArchiveLifecycleFileIsCurrent(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	if o, e, code := run(t, nil, "schema", "lifecycle", filepath.Join(root, "proto"), "--check", "--out", filepath.Join(root, "terraform", "archive_lifecycle.json")); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, o, e)
	}
}
