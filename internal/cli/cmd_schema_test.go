package cli_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/localgcs"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs hem with args and returns stdout, stderr and the exit status.
func run(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr syncBuffer
	io := cli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	err := cli.Run(t.Context(), io, args)
	code := 0
	if err != nil {
		var ok bool
		if code, ok = cli.ExitCode(err); !ok {
			code = -1
			stderr.Write([]byte("error: " + err.Error()))
		}
	}
	return stdout.String(), stderr.String(), code
}

// startRegistry serves an in-process registry (loopback, no keys: local
// writes) and returns the environment that points hem at it.
func startRegistry(t *testing.T) map[string]string {
	t.Helper()
	srv, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	client, err := srv.NewClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := localgcs.EnsureBucket(context.Background(), client, "reg"); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(context.Background(), client.Bucket("reg"), "")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := registry.NewService(reg, registry.WithLocalWrites())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- registry.Serve(ctx, lis, svc) }()
	t.Cleanup(func() { cancel(); <-done })
	// HEM_DIR points at an empty folder so no running "hem dev" is found.
	return map[string]string{"HEM_REGISTRY": lis.Addr().String(), "HEM_DIR": t.TempDir()}
}

const ordersProto = `syntax = "proto3";

package acme.orders.v1;

import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";

// OrderPlaced: a customer placed an order.
message OrderPlaced {
  option (hem.options.v1.event) = {entity_key_field: "order_id"};

  // Order id.
  string order_id = 1;
  // Units ordered.
  int32 quantity = 2;
  // When it happened.
  google.protobuf.Timestamp placed_at = 3;
%s}

// OrderShipped: the order left the warehouse.
message OrderShipped {
  option (hem.options.v1.event) = {entity_key_field: "order_id"};

  // Order id.
  string order_id = 1;
}
`

// contracts writes the acme contracts into dir (created if needed) with
// extra fields in OrderPlaced, and edit applied to the whole file.
func contracts(t *testing.T, dir, extra string, edit ...string) string {
	t.Helper()
	src := strings.Replace(ordersProto, "%s", extra, 1)
	if len(edit) > 0 {
		src = strings.NewReplacer(edit...).Replace(src)
	}
	path := filepath.Join(dir, "acme", "orders", "v1", "events.proto")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var pushLine = regexp.MustCompile(`^(\S+)\s+(v\d+)?\s*(id \d+)?\s*(NEW|UNCHANGED|REJECTED)$`)

// pushed parses push output into subject → "vN id N OUTCOME".
func pushed(t *testing.T, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			break // violations follow a blank line
		}
		m := pushLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("push line %q is not SUBJECT vN id N OUTCOME", l)
		}
		got[m[1]] = strings.Join(strings.Fields(m[2]+" "+m[3]+" "+m[4]), " ")
	}
	return got
}

func TestSchemaPush(t *testing.T) {
	t.Parallel()
	env := startRegistry(t)
	dir := contracts(t, t.TempDir(), "")

	out, errOut, code := run(t, env, "schema", "push", dir)
	if code != 0 {
		t.Fatalf("first push: exit %d\n%s%s", code, out, errOut)
	}
	first := pushed(t, out)
	if first["acme.orders.v1.OrderPlaced"] != "v1 id 1 NEW" && first["acme.orders.v1.OrderPlaced"] != "v1 id 2 NEW" {
		t.Fatalf("first push: %q", out)
	}

	out, _, code = run(t, env, "schema", "push", dir)
	second := pushed(t, out)
	if code != 0 || len(second) != 2 {
		t.Fatalf("second push: exit %d %q", code, out)
	}
	for subject, line := range first {
		if want := strings.Replace(line, "NEW", "UNCHANGED", 1); second[subject] != want {
			t.Errorf("second push of %s: %q, want %q", subject, second[subject], want)
		}
	}

	// Columns line up.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Index(lines[0], " v1") != strings.Index(lines[1], " v1") {
		t.Errorf("columns are not aligned:\n%s", out)
	}

	contracts(t, dir, "  // A note.\n  optional string note = 4;\n")
	out, _, code = run(t, env, "schema", "push", "--dry-run", dir)
	if got := pushed(t, out)["acme.orders.v1.OrderPlaced"]; code != 0 || got != "v2 NEW" {
		t.Fatalf("dry run: exit %d, %q", code, out)
	}
	out, _, code = run(t, env, "schema", "push", dir)
	if got := pushed(t, out)["acme.orders.v1.OrderPlaced"]; code != 0 || got != "v2 id 3 NEW" {
		t.Fatalf("optional field: exit %d, %q", code, out)
	}

	tests := []struct {
		name, extra, rule string
		edit              []string
	}{
		{"retype", "  optional string note = 4;\n", "EV-W06 acme.orders.v1.OrderPlaced.quantity: ", []string{"int32 quantity", "int64 quantity"}},
		{"rename", "  optional string note = 4;\n", "EV-J01 acme.orders.v1.OrderPlaced.quantity: ", []string{"int32 quantity", "int32 units"}},
		{"delete", "  optional string note = 4;\n", "EV-W04 acme.orders.v1.OrderPlaced.quantity: ", []string{"  // Units ordered.\n  int32 quantity = 2;\n", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := contracts(t, t.TempDir(), tt.extra, tt.edit...)
			out, _, code := run(t, env, "schema", "push", bad)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, out)
			}
			if got := pushed(t, out)["acme.orders.v1.OrderPlaced"]; got != "REJECTED" {
				t.Errorf("OrderPlaced: %q\n%s", got, out)
			}
			if got := pushed(t, out)["acme.orders.v1.OrderShipped"]; got != "v1 id 2 UNCHANGED" && got != "v1 id 1 UNCHANGED" {
				t.Errorf("OrderShipped: %q", got)
			}
			_, violations, _ := strings.Cut(out, "\n\n")
			if !strings.HasPrefix(violations, tt.rule) {
				t.Errorf("violations %q, want a line starting with %q", violations, tt.rule)
			}
		})
	}

	// A new major registers cleanly beside v1.
	v2 := contracts(t, t.TempDir(), "", "acme.orders.v1", "acme.orders.v2", "int32 quantity", "int64 quantity")
	if err := os.Rename(filepath.Join(v2, "acme", "orders", "v1"), filepath.Join(v2, "acme", "orders", "v2")); err != nil {
		t.Fatal(err)
	}
	out, _, code = run(t, env, "schema", "push", v2)
	if got := pushed(t, out)["acme.orders.v2.OrderPlaced"]; code != 0 || got != "v1 id 4 NEW" && got != "v1 id 5 NEW" {
		t.Fatalf("new major: exit %d, %q", code, out)
	}
}

func TestSchemaPushReportsCompileErrors(t *testing.T) {
	t.Parallel()
	env := startRegistry(t)
	dir := contracts(t, t.TempDir(), "  bool flag = 2;\n  bool other = 3;\n")
	out, errOut, code := run(t, env, "schema", "push", dir)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	file := filepath.ToSlash(filepath.Join(dir, "acme/orders/v1/events.proto"))
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) < 2 {
		t.Fatalf("want every compile error, got %q", errOut)
	}
	for _, l := range lines {
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(file) + `:\d+:\d+: .+`).MatchString(l) {
			t.Errorf("line %q is not %s:LINE:COL: message", l, file)
		}
	}
}

func TestSchemaListShowDiff(t *testing.T) {
	t.Parallel()
	env := startRegistry(t)
	dir := contracts(t, t.TempDir(), "")
	if out, _, code := run(t, env, "schema", "push", dir); code != 0 {
		t.Fatal(out)
	}
	contracts(t, dir, "  // A note for the picker.\n  optional string note = 4;\n")
	if out, _, code := run(t, env, "schema", "push", dir); code != 0 {
		t.Fatal(out)
	}

	out, _, code := run(t, env, "schema", "list")
	if code != 0 {
		t.Fatal(out)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	want := []string{"acme.orders.v1.OrderPlaced v2 id 3", "acme.orders.v1.OrderShipped v1 id 2"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") && strings.Join(rows, "\n") != "acme.orders.v1.OrderPlaced v2 id 3\nacme.orders.v1.OrderShipped v1 id 1" {
		t.Errorf("list:\n%s", out)
	}

	// show prints source that compiles to the pushed contract.
	for _, arg := range []string{"acme.orders.v1.OrderPlaced", "acme.orders.v1.OrderPlaced@2"} {
		out, errOut, code := run(t, env, "schema", "show", arg)
		if code != 0 {
			t.Fatalf("show %s: %s", arg, errOut)
		}
		if !strings.Contains(out, "  // A note for the picker.\n  optional string note = 4;") {
			t.Errorf("show %s lacks the new field with its comment:\n%s", arg, out)
		}
		again, err := contract.CompileSources(t.Context(), map[string]string{"acme/orders/v1/events.proto": out})
		if err != nil {
			t.Fatalf("shown source does not compile: %v", err)
		}
		pushedSrc, err := contract.CompileDir(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := again.Schema("acme.orders.v1.OrderPlaced")
		b, _ := pushedSrc.Schema("acme.orders.v1.OrderPlaced")
		if a.Fingerprint() != b.Fingerprint() {
			t.Errorf("show %s: the source is not the pushed contract", arg)
		}
	}
	out, _, _ = run(t, env, "schema", "show", "acme.orders.v1.OrderPlaced@1")
	if strings.Contains(out, "note") {
		t.Errorf("v1 shows the v2 field:\n%s", out)
	}
	if _, errOut, code := run(t, env, "schema", "show", "acme.nope.v1.Nope"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("show of an unknown subject: exit %d %q", code, errOut)
	}

	out, _, code = run(t, env, "schema", "diff", "acme.orders.v1.OrderPlaced", "1", "v2")
	if code != 0 || strings.TrimSpace(out) != "+ acme.orders.v1.OrderPlaced.note (optional string, field 4)" {
		t.Errorf("diff: exit %d\n%s", code, out)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=hem", "-c", "user.email=hem@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	tests := []struct {
		name  string
		extra string
		edit  []string
		code  int
		want  string
	}{
		{"unchanged", "", nil, 0, ""},
		{"compatible field", "  optional string note = 4;\n", nil, 0, ""},
		{"retyped field", "", []string{"int32 quantity", "int64 quantity"}, 1, "EV-W06 acme.orders.v1.OrderPlaced.quantity: "},
		{"deleted event type", "", []string{"message OrderShipped", "message Shipment", "option (hem.options.v1.event) = {entity_key_field: \"order_id\"};\n\n  // Order id.\n  string order_id = 1;\n}\n", "string order_id = 1;\n}\n"}, 1,
			"EV-W03 acme.orders.v1.OrderShipped: an event type was deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo := t.TempDir()
			git(t, repo, "init", "-q")
			dir := contracts(t, filepath.Join(repo, "proto"), "")
			git(t, repo, "add", ".")
			git(t, repo, "commit", "-qm", "v1")
			contracts(t, dir, tt.extra, tt.edit...)
			out, errOut, code := run(t, nil, "schema", "check", dir, "--against", "HEAD")
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			if !strings.HasPrefix(out, tt.want) || (tt.want == "" && out != "") {
				t.Errorf("output %q, want it to start with %q", out, tt.want)
			}
			if tt.code == 0 && !strings.Contains(errOut, "no violations") {
				t.Errorf("stderr %q", errOut)
			}
		})
	}

	t.Run("defaults to HEAD~1 and checks new subjects", func(t *testing.T) {
		t.Parallel()
		repo := t.TempDir()
		git(t, repo, "init", "-q")
		if err := os.WriteFile(filepath.Join(repo, "README"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, repo, "add", ".")
		git(t, repo, "commit", "-qm", "no contracts yet")
		dir := contracts(t, filepath.Join(repo, "proto"), "")
		git(t, repo, "add", ".")
		git(t, repo, "commit", "-qm", "contracts")
		out, errOut, code := run(t, nil, "schema", "check", dir)
		if code != 0 || !strings.Contains(errOut, "against HEAD~1") {
			t.Fatalf("exit %d %q %q", code, out, errOut)
		}
	})
	t.Run("unknown ref", func(t *testing.T) {
		t.Parallel()
		repo := t.TempDir()
		git(t, repo, "init", "-q")
		dir := contracts(t, filepath.Join(repo, "proto"), "")
		_, errOut, code := run(t, nil, "schema", "check", dir, "--against", "no-such-ref")
		if code == 0 || !strings.Contains(errOut, "no-such-ref") {
			t.Fatalf("exit %d %q", code, errOut)
		}
	})
}
