package console

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"google.golang.org/api/idtoken"
)

// fakeIAP accepts the token "good" and returns its payload.
type fakeIAP struct{ payload *idtoken.Payload }

func (f fakeIAP) Validate(_ context.Context, token, audience string) (*idtoken.Payload, error) {
	if token != "good" || audience != "/projects/1/global/backendServices/2" {
		return nil, errors.New("idtoken: invalid")
	}
	return f.payload, nil
}

func TestIAPAuth(t *testing.T) {
	t.Parallel()
	cfg := IAPConfig{Audience: "/projects/1/global/backendServices/2", Replayers: []string{"oncall@acme.example"}, PIIReaders: []string{"dpo@acme.example"}}
	payload := func(iss, email string) *idtoken.Payload {
		return &idtoken.Payload{Issuer: iss, Claims: map[string]any{"email": email}}
	}
	cases := []struct {
		name    string
		token   string
		payload *idtoken.Payload
		want    Viewer
		wantErr bool
	}{
		{"no assertion", "", payload(iapIssuer, "a@acme.example"), Viewer{}, true},
		{"a bad signature or audience", "forged", payload(iapIssuer, "a@acme.example"), Viewer{}, true},
		{"another issuer", "good", payload("https://accounts.google.com", "a@acme.example"), Viewer{}, true},
		{"no e-mail", "good", payload(iapIssuer, ""), Viewer{}, true},
		{"a reader sees no PII and may not replay", "good", payload(iapIssuer, "a@acme.example"), Viewer{Name: "a@acme.example"}, false},
		{"on call may replay", "good", payload(iapIssuer, "oncall@acme.example"), Viewer{Name: "oncall@acme.example", MayReplay: true}, false},
		{"the DPO sees PII", "good", payload(iapIssuer, "dpo@acme.example"), Viewer{Name: "dpo@acme.example", MaySeePII: true}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := &IAPAuthenticator{cfg: cfg, v: fakeIAP{tc.payload}}
			r := httptest.NewRequest("GET", "/ui/contracts", nil)
			if tc.token != "" {
				r.Header.Set("X-Goog-IAP-JWT-Assertion", tc.token)
			}
			v, err := a.Authenticate(r)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("err %v is not ErrUnauthenticated", err)
			}
			if v != tc.want {
				t.Errorf("viewer %+v, want %+v", v, tc.want)
			}
		})
	}
	if _, err := IAPAuth(t.Context(), IAPConfig{}); err == nil {
		t.Error("IAPAuth without an audience: no error")
	}
}
