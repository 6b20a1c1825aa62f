package fieldcrypt_test

import (
	"errors"
	"slices"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/iterator"

	"github.com/hemlabs/hem/fieldcrypt"
	"github.com/hemlabs/hem/registry/localgcs"
)

// Both stores behave alike: what the keyring relies on.
func TestStores(t *testing.T) {
	t.Parallel()
	dir, err := fieldcrypt.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	client, err := srv.NewClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := localgcs.EnsureBucket(t.Context(), client, "registry"); err != nil {
		t.Fatal(err)
	}
	gcs, err := fieldcrypt.NewGCSStore(client.Bucket("registry"), "keys/")
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]fieldcrypt.Store{"dir": dir, "gcs": gcs} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			if _, err := s.Get(ctx, "type/a.B/aead"); !errors.Is(err, fieldcrypt.ErrNotFound) {
				t.Errorf("get of a missing object: %v", err)
			}
			if err := s.Create(ctx, "type/a.B/aead", []byte("one")); err != nil {
				t.Fatal(err)
			}
			if err := s.Create(ctx, "type/a.B/aead", []byte("two")); !errors.Is(err, fieldcrypt.ErrExists) {
				t.Errorf("second create: %v, want ErrExists", err)
			}
			if b, err := s.Get(ctx, "type/a.B/aead"); err != nil || string(b) != "one" {
				t.Errorf("get: %q %v, want the first create's", b, err)
			}
			_ = s.Create(ctx, "subject/member_id/6d2d31/a.B/aead", []byte("x"))
			_ = s.Create(ctx, "subject/member_id/6d2d31/a.C/daead", []byte("y"))
			got, err := s.List(ctx, "subject/member_id/6d2d31/")
			slices.Sort(got)
			if err != nil || !slices.Equal(got, []string{"subject/member_id/6d2d31/a.B/aead", "subject/member_id/6d2d31/a.C/daead"}) {
				t.Errorf("list: %v %v", got, err)
			}
			if err := s.Delete(ctx, "subject/member_id/6d2d31/a.B/aead"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "subject/member_id/6d2d31/a.B/aead"); err != nil {
				t.Errorf("delete of a missing object: %v", err)
			}
			if _, err := s.Get(ctx, "subject/member_id/6d2d31/a.B/aead"); !errors.Is(err, fieldcrypt.ErrNotFound) {
				t.Errorf("get after delete: %v", err)
			}
		})
	}
}

// TestGCSDeleteVersions: in a versioned bucket (the registry bucket is,
// keeping noncurrent versions for a year), Delete removes every generation
// of a keyset, so no readable copy of an erased key stays behind. (The fake
// keeps versions only in memory, hence fakestorage and not localgcs.)
func TestGCSDeleteVersions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "registry", VersioningEnabled: true})
	b := srv.Client().Bucket("registry")
	s, err := fieldcrypt.NewGCSStore(b, "keys/")
	if err != nil {
		t.Fatal(err)
	}
	generations := func() int {
		n := 0
		it := b.Objects(ctx, &storage.Query{Prefix: "keys/", Versions: true})
		for {
			_, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	const name = "subject/member_id/6d2d31/a.B/aead"
	if err := s.Create(ctx, name, []byte("one")); err != nil {
		t.Fatal(err)
	}
	w := b.Object("keys/" + name).NewWriter(ctx) // a second generation, the first now noncurrent
	_, _ = w.Write([]byte("two"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := generations(); n != 2 {
		t.Fatalf("%d generations before the delete, want 2", n)
	}
	if err := s.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if n := generations(); n != 0 {
		t.Errorf("%d generations left after Delete, want none", n)
	}
	if err := s.Delete(ctx, name); err != nil {
		t.Errorf("delete of a deleted keyset: %v", err)
	}
}
