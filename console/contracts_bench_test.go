package console_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hemlabs/hem/console"
)

// BenchmarkContractsPages serves each contracts page from the handler,
// over a real registry holding the sample contracts (gRPC on loopback).
func BenchmarkContractsPages(b *testing.B) {
	reg := startRegistry(b)
	pushSamples(b, reg)
	s, err := console.New(console.Deps{Registry: reg, Auth: console.KeyAuth(testKey)})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, bc := range []struct{ name, path string }{
		{"list", "/ui/contracts"},
		{"subject", "/ui/contracts/shop.members.v1.MemberRegistered"},
		{"version", "/ui/contracts/shop.members.v1.MemberRegistered/v/1"},
		{"diff", "/ui/contracts/shop.orders.v1.OrderPlaced/diff?from=1&to=1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, bc.path, nil)
				req.Header.Set("X-Api-Key", testKey)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: status %d", bc.path, rec.Code)
				}
			}
		})
	}
}
