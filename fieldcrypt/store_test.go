package fieldcrypt_test

import (
	"errors"
	"slices"
	"testing"

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
