package console_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/console"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"

	"github.com/hemlabs/hem/registry"
)

func TestContractsListShowsEverySampleSubject(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	src := pushSamples(t, reg)
	ts := newConsole(t, reg)
	p := get(t, ts, "/ui/contracts")
	if p.Status != http.StatusOK {
		t.Fatalf("status %d: %s", p.Status, p.text())
	}
	for _, md := range src.Events() {
		if registry.Reserved(string(md.FullName())) {
			continue
		}
		mustContain(t, p, string(md.FullName()))
	}
	mustContain(t, p, "shop_members_v1_member_registered", "email HASH", "full_name REDACT", "address DROP", "USABLE")
}

// brokenRegistry fails every call with err.
type brokenRegistry struct {
	console.Registry
	err error
}

func (b brokenRegistry) Subjects(context.Context) ([]*registryv1.SubjectInfo, error) {
	return nil, b.err
}

func (b brokenRegistry) Versions(context.Context, string) ([]*registryv1.Schema, error) {
	return nil, b.err
}

// A registry that fails shows a page that says so, without the error's
// text (it may name internal hosts), and with the status a proxy or a
// script can act on.
func TestRegistryFailures(t *testing.T) {
	t.Parallel()
	secret := "dial tcp 10.1.2.3:7070: secret internal detail"
	cases := []struct {
		name   string
		err    error
		path   string
		status int
		want   string
	}{
		{"unavailable", status.Error(codes.Unavailable, secret), "/ui/contracts", 503, "did not answer in time"},
		{"deadline", fmt.Errorf("registry: subjects: %w", context.DeadlineExceeded), "/ui/contracts", 503, "did not answer in time"},
		{"anything else", errors.New(secret), "/ui/contracts", 500, "Something went wrong on our side"},
		{"anything else on a subject", errors.New(secret), "/ui/contracts/a.b.v1.C", 500, "Something went wrong on our side"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newConsole(t, brokenRegistry{err: tc.err})
			p := get(t, ts, tc.path)
			if p.Status != tc.status {
				t.Fatalf("status %d, want %d", p.Status, tc.status)
			}
			mustContain(t, p, tc.want, "Contracts")
			if strings.Contains(p.Body, "10.1.2.3") {
				t.Error("the page shows the internal error")
			}
		})
	}
}
