package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/registry"
)

// The console's version timeline shows who pushed each version and from
// which commit; the registry records both at push.
func TestServiceRecordsWhoPushedAndTheCommit(t *testing.T) {
	t.Parallel()
	ring, err := auth.Parse([]byte(`{"keys":[{"name":"deployer","service_account":"deployer@p.iam.gserviceaccount.com","schema_write":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ring.Add(ciKey, auth.Principal{Name: "ci", SchemaWrite: true})
	tokens := registry.TokenVerifierFunc(func(_ context.Context, token string) (string, error) {
		email, ok := strings.CutPrefix(token, "valid-token-for-")
		if !ok {
			return "", errors.New("signature mismatch")
		}
		return email, nil
	})
	keyed := registryv1.NewRegistryServiceClient(conn(t, serve(t, newRegistry(t, startGCS(t, t.TempDir())), registry.WithKeyring(ring), registry.WithTokenVerifier(tokens))))
	local := registryv1.NewRegistryServiceClient(conn(t, serve(t, newRegistry(t, startGCS(t, t.TempDir())), registry.WithLocalWrites())))

	tests := []struct {
		name   string
		api    registryv1.RegistryServiceClient
		pkg    string
		md     []string
		commit string
		want   string
	}{
		{name: "API key", api: keyed, pkg: "acme.a.v1", md: []string{"x-api-key", ciKey}, commit: "0123456789abcdef0123456789abcdef01234567", want: "ci"},
		{name: "ID token", api: keyed, pkg: "acme.b.v1", md: []string{"authorization", "Bearer valid-token-for-deployer@p.iam.gserviceaccount.com"}, commit: "v1.2.3", want: "deployer"},
		{name: "loopback without keys", api: local, pkg: "acme.c.v1", want: registry.LocalPrincipal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := metadata.AppendToOutgoingContext(t.Context(), tt.md...)
			o := ordersV1{pkg: tt.pkg}
			req := registerRequest(o.schema(t))
			req.Commit = tt.commit
			if _, err := tt.api.Register(ctx, req); err != nil {
				t.Fatal(err)
			}
			// Pushing the same contract again from another commit leaves
			// the version's provenance as it was first recorded.
			req.Commit = "later"
			if _, err := tt.api.Register(ctx, req); err != nil {
				t.Fatal(err)
			}
			got, err := tt.api.GetSchema(ctx, &registryv1.GetSchemaRequest{Subject: o.subject(), Version: 1})
			if err != nil {
				t.Fatal(err)
			}
			if s := got.GetSchema(); s.GetPushedBy() != tt.want || s.GetCommit() != tt.commit {
				t.Errorf("GetSchema: pushed_by %q commit %q, want %q %q", s.GetPushedBy(), s.GetCommit(), tt.want, tt.commit)
			}
			list, err := tt.api.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: o.subject()})
			if err != nil {
				t.Fatal(err)
			}
			if vs := list.GetVersions(); len(vs) != 1 || vs[0].GetPushedBy() != tt.want || vs[0].GetCommit() != tt.commit {
				t.Errorf("ListVersions: %v, want one version pushed by %q from %q", vs, tt.want, tt.commit)
			}
		})
	}
}

func TestClientVersionCarriesProvenance(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	c := registry.NewClient(conn(t, serve(t, r, registry.WithKeyring(withKey()))), registry.WithAPIKey(ciKey))
	req := registerRequest(ordersV1{}.schema(t))
	req.Commit = "abc123"
	if _, err := c.Register(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	s, err := c.Version(t.Context(), ordersV1{}.subject(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.PushedBy != "ci" || s.Commit != "abc123" {
		t.Errorf("Client.Version: pushed by %q from %q, want ci abc123", s.PushedBy, s.Commit)
	}
}

func TestServiceRefusesABadCommit(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	api := registryv1.NewRegistryServiceClient(conn(t, serve(t, r, registry.WithLocalWrites())))
	tests := []struct {
		name   string
		commit string
		dryRun bool
	}{
		{name: "too long", commit: strings.Repeat("a", registry.MaxCommitLen+1)},
		{name: "newline", commit: "abc\ndef"},
		{name: "NUL", commit: "abc\x00"},
		{name: "escape", commit: "\x1b[31mred"},
		{name: "DEL", commit: "abc\x7f"},
		{name: "dry run too", commit: "abc\r", dryRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := registerRequest(ordersV1{pkg: "acme.bad.v1"}.schema(t))
			req.Commit, req.DryRun = tt.commit, tt.dryRun
			_, err := api.Register(t.Context(), req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "commit") {
				t.Fatalf("Register with commit %q: %v, want InvalidArgument naming the commit", tt.commit, err)
			}
		})
	}
	t.Run("longest allowed", func(t *testing.T) {
		t.Parallel()
		req := registerRequest(ordersV1{pkg: "acme.ok.v1"}.schema(t))
		req.Commit = strings.Repeat("a", registry.MaxCommitLen)
		if _, err := api.Register(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	})
	// Nothing of the refused pushes was stored.
	if _, err := r.Versions(t.Context(), ordersV1{pkg: "acme.bad.v1"}.subject()); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("refused push stored something: %v", err)
	}
}

// An index written before provenance was recorded still loads; its versions
// have neither field, and new versions get both.
func TestIndexWithoutProvenanceLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := startGCS(t, dir)
	r := newRegistry(t, g)
	register(t, r, ordersV1{}.schema(t))

	// Rewrite index.json as an older hem wrote it: no provenance keys.
	ctx := t.Context()
	obj := g.bucket(t).Object("registry/index.json")
	rd, err := obj.NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rd)
	rd.Close()
	if err != nil {
		t.Fatal(err)
	}
	var idx map[string]any
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	for _, v := range idx["versions"].([]any) {
		delete(v.(map[string]any), "pushed_by")
		delete(v.(map[string]any), "source_commit")
	}
	b, _ = json.Marshal(idx)
	w := obj.NewWriter(ctx)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r2 := newRegistry(t, g)
	old, err := r2.Version(ctx, ordersV1{}.subject(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if old.PushedBy != "" || old.Commit != "" {
		t.Errorf("old version: pushed by %q from %q, want neither", old.PushedBy, old.Commit)
	}
	res, err := r2.Register(ctx, []*contract.Schema{ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t)}, registry.PushedBy("ci"), registry.WithCommit("abc"))
	if err != nil {
		t.Fatal(err)
	}
	if s := res[0].Schema; s.Version != 2 || s.PushedBy != "ci" || s.Commit != "abc" {
		t.Errorf("new version: v%d pushed by %q from %q", s.Version, s.PushedBy, s.Commit)
	}

	// And they survive a restart.
	r3 := newRegistry(t, g)
	got, err := r3.Version(ctx, ordersV1{}.subject(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.PushedBy != "ci" || got.Commit != "abc" {
		t.Errorf("after restart: pushed by %q from %q, want ci abc", got.PushedBy, got.Commit)
	}
}
