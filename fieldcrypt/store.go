package fieldcrypt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Store holds wrapped keysets as small blobs under object names (see
// Name.Object). Get answers ErrNotFound for a missing object, Create
// ErrExists for an existing one (two collectors creating the same key: the
// second one reads the first one's). Delete of a missing object is not an
// error. List returns the names under prefix. DirStore and GCSStore
// implement it.
type Store interface {
	Get(ctx context.Context, name string) ([]byte, error)
	Create(ctx context.Context, name string, data []byte) error
	Delete(ctx context.Context, name string) error
	List(ctx context.Context, prefix string) ([]string, error)
}

// DirStore is a Store in a local folder (hem dev's .hem/keys/data), one
// file per object. It is safe for concurrent use, also by several
// processes: creates are atomic (a hard link of a complete file).
type DirStore struct {
	dir string
}

var _ Store = (*DirStore)(nil)

// NewDirStore returns the store in dir, creating it.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fieldcrypt: key folder: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

func (s *DirStore) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") || strings.Contains(name, "\\") {
		return "", fmt.Errorf("fieldcrypt: bad object name %q", name)
	}
	return filepath.Join(s.dir, filepath.FromSlash(name)), nil
}

// Get reads an object.
func (s *DirStore) Get(_ context.Context, name string) ([]byte, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: read key: %w", err)
	}
	return b, nil
}

// Create writes an object that must not exist.
func (s *DirStore) Create(_ context.Context, name string, data []byte) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := createExclusive(p, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, name)
		}
		return fmt.Errorf("fieldcrypt: write key: %w", err)
	}
	return nil
}

// createExclusive writes data to the file p, which must not exist, and
// its folders: completely or not at all.
func createExclusive(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A link fails when the name exists: the first creator wins.
	return os.Link(tmp.Name(), p)
}

// Delete removes an object.
func (s *DirStore) Delete(_ context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fieldcrypt: delete key: %w", err)
	}
	return nil
}

// List returns the objects whose names start with prefix, which must end
// in "/" or be empty.
func (s *DirStore) List(_ context.Context, prefix string) ([]string, error) {
	root := s.dir
	if prefix != "" {
		p, err := s.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return nil, err
		}
		root = p
	}
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(s.dir, path)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: list keys: %w", err)
	}
	return out, nil
}
