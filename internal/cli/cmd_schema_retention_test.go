package cli_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	keepYear    = `{entity_key_field: "order_id" partition_expiration_days: 365}`
	keepQuarter = `{entity_key_field: "order_id" partition_expiration_days: 90}`
)

// retention edits OrderPlaced's event option (the first in the file).
func retention(opt string) []string {
	return []string{`{entity_key_field: "order_id"};

  // Order id.
  string order_id = 1;
  // Units ordered.`, opt + `;

  // Order id.
  string order_id = 1;
  // Units ordered.`}
}

func TestSchemaCheckShortenedRetention(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	git(t, repo, "init", "-q")
	dir := contracts(t, filepath.Join(repo, "proto"), "", retention(keepYear)...)
	git(t, repo, "add", ".")
	git(t, repo, "commit", "-qm", "v1")
	contracts(t, dir, "", retention(keepQuarter)...)

	out, errOut, code := run(t, nil, "schema", "check", dir, "--against", "HEAD")
	if code != 1 || !strings.HasPrefix(out, "EV-D01 acme.orders.v1.OrderPlaced: partition_expiration_days shortened from 365 to 90 days") {
		t.Fatalf("unacknowledged: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, nil, "schema", "check", dir, "--against", "HEAD", "--acknowledge-retention", "acme.orders.v1.OrderPlaced")
	if code != 0 || !strings.HasPrefix(out, "acknowledged EV-D01 acme.orders.v1.OrderPlaced: ") || !strings.Contains(out, "(275 days)") {
		t.Fatalf("acknowledged: exit %d\n%s%s", code, out, errOut)
	}
}

func TestSchemaPushShortenedRetention(t *testing.T) {
	t.Parallel()
	env := startRegistry(t)
	dir := contracts(t, t.TempDir(), "", retention(keepYear)...)
	if out, errOut, code := run(t, env, "schema", "push", dir); code != 0 {
		t.Fatalf("first push: exit %d\n%s%s", code, out, errOut)
	}
	contracts(t, dir, "", retention(keepQuarter)...)
	out, errOut, code := run(t, env, "schema", "push", dir)
	if code != 1 || pushed(t, out)["acme.orders.v1.OrderPlaced"] != "REJECTED" || !strings.Contains(out, "\nEV-D01 acme.orders.v1.OrderPlaced: partition_expiration_days shortened") {
		t.Fatalf("unacknowledged: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, env, "schema", "push", dir, "--acknowledge-retention", "acme.orders.v1.OrderPlaced")
	if code != 0 || pushed(t, out)["acme.orders.v1.OrderPlaced"] != "v2 id 3 NEW" || !strings.Contains(out, "\nacknowledged EV-D01 acme.orders.v1.OrderPlaced: ") {
		t.Fatalf("acknowledged: exit %d\n%s%s", code, out, errOut)
	}
}
