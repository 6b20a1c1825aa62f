package collector_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/collector/collectortest"
)

// A key the keyring no longer holds is refused at once, although the
// collector accepted (and cached) it before.
func TestRevokedKeyIsRefused(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	mustCollect(t, c, event(t, "before", orderPlaced(1)))
	if err := st.Keyring.Reload([]byte(`{"keys": []}`)); err != nil {
		t.Fatal(err)
	}
	_, err := collect(t, c, collectortest.APIKey, event(t, "after", orderPlaced(1)))
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("request with a revoked key: %v, want UNAUTHENTICATED", err)
	}
	if code, _ := post(t, st, collectortest.APIKey, `{"events": []}`); code != 401 {
		t.Errorf("HTTP request with a revoked key: %d, want 401", code)
	}
}
