// Package localgcs runs an in-process Google Cloud Storage server backed by a
// folder (github.com/fsouza/fake-gcs-server), so that local mode and tests run
// the production GCS code paths over the real JSON API. Objects, their
// generations and upload preconditions survive a restart on the same folder.
//
// The fake enforces preconditions on uploads only (not on delete, update or
// copy), and a read racing a write of the same object can fail with
// "storage: bad CRC on read"; code that runs on it should build atomicity on
// conditional uploads and retry reads, as the registry does.
package localgcs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Server is a running in-process GCS server. Its methods are safe for
// concurrent use.
type Server struct {
	srv  *fakestorage.Server
	addr string
	dir  string
}

// Start serves the objects under dir (created if missing) on addr, a
// host:port; port 0 picks a free port. Use a loopback host: the server has no
// authentication.
func Start(dir, addr string) (*Server, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("localgcs: address %q: %w", addr, err)
	}
	if host == "" {
		return nil, fmt.Errorf("localgcs: address %q: host is required (an empty host listens on every interface)", addr)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("localgcs: address %q: bad port", addr)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localgcs: %w", err)
	}
	// The fake needs its port up front (it serves XML reads on PublicHost),
	// so a free port is picked first; another process may take it in
	// between, hence the retries.
	attempts := 1
	if port == 0 {
		attempts = 5
	}
	for i := 0; ; i++ {
		p := uint16(port)
		if p == 0 {
			if p, err = freePort(host); err != nil {
				return nil, fmt.Errorf("localgcs: %w", err)
			}
		}
		hostPort := net.JoinHostPort(host, strconv.Itoa(int(p)))
		srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
			StorageRoot: dir,
			Scheme:      "http",
			Host:        host,
			Port:        p,
			PublicHost:  hostPort,
		})
		if err == nil {
			return &Server{srv: srv, addr: hostPort, dir: dir}, nil
		}
		if i+1 >= attempts {
			return nil, fmt.Errorf("localgcs: listen %s: %w", hostPort, err)
		}
	}
}

func freePort(host string) (uint16, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Dir is the folder holding the objects, as <dir>/<bucket>/<object name>.
func (s *Server) Dir() string { return s.dir }

// Endpoint is the JSON API endpoint, for option.WithEndpoint.
func (s *Server) Endpoint() string { return "http://" + s.addr + "/storage/v1/" }

// NewClient returns a storage client talking to the server. The caller
// closes it.
func (s *Server) NewClient(ctx context.Context) (*storage.Client, error) {
	c, err := storage.NewClient(ctx,
		option.WithEndpoint(s.Endpoint()),
		option.WithoutAuthentication(),
		storage.WithJSONReads(),
	)
	if err != nil {
		return nil, fmt.Errorf("localgcs: client: %w", err)
	}
	return c, nil
}

// EnsureBucket creates the bucket unless it exists, through the GCS API.
func EnsureBucket(ctx context.Context, c *storage.Client, bucket string) error {
	b := c.Bucket(bucket)
	_, err := b.Attrs(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("localgcs: bucket %s: %w", bucket, err)
	}
	if err := b.Create(ctx, "local", nil); err != nil {
		// A concurrent creator may have won.
		if _, aerr := b.Attrs(ctx); aerr == nil {
			return nil
		}
		return fmt.Errorf("localgcs: create bucket %s: %w", bucket, err)
	}
	return nil
}

// Stop closes the listener and every connection. Objects stay in the folder.
func (s *Server) Stop() { s.srv.Stop() }
