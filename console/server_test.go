package console_test

import (
	"net/http"
	"testing"

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
